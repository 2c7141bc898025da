"""Tomelilla kommun: tomelilla_dialog walked through the engine (processes/tomelilla/README.md)."""

from __future__ import annotations

import pytest

from engine.errors import ValidationFailed
from tests.processes.walker import (
    Diagram,
    Scenario,
    advance_to,
    assert_cannot_skip,
    assert_covers_gateways,
    assert_forbidden_for_outsider,
    assert_refused,
    case_row,
    open_tasks,
    run_scenario,
    run_until_end,
    setup,
    start,
    user_for,
)

DIALOG = Diagram.load("tomelilla/dialog.bpmn")
PROPOSER = "per.forslag@example.se"
DELTAGARE = "deltagare-brosarp@lists.example.se"
SKAL = "Skolans placering styrs av skollagens krav på likvärdighet och av beslutad budget."

PLANERING = {
    "chk_planering_fragestallningar": True,
    "chk_planering_malgruppsanalys": True,
    "chk_planering_grad_av_inflytande": True,
    "chk_planering_metod": True,
    "chk_planering_budget": True,
    "chk_planering_tidslinje": True,
    "chk_planering_ansvariga": True,
    "chk_planering_kommunikationsplan": True,
    "chk_planering_dokumentationsform": True,
    "chk_planering_uppfoljning_utvardering": True,
    "fragestallningar": "Vad ska byns mötesplats användas till? Vilka tider passar?",
    "malgrupper": "Boende i Brösarp, föreningar, unga 13–18 år.",
    "metod": "Dialogcafé i bygdegården och digital enkät.",
    "budget_kr": 15000,
    "tidslinje": "Inbjudan 1 april, dialogcafé 20 april, enkät 1–30 april.",
    "kommunikationsplan": "Affischer, Facebook, skolans veckobrev.",
    "dokumentationsform": "Minnesanteckningar och enkätsammanställning.",
    "resurser_sakrade": True,
    "paverkan_deltagare": "Innehåll och öppettider för mötesplatsen.",
    "aterkoppling_hur": "Mejl till deltagarna och möte i bygdegården.",
    "aterkoppling_senast": "2026-09-30",
}

ANSWERS = {
    "Task_registrera_forslag": {
        "fraga": "Hur ska den nya mötesplatsen i Brösarp användas?",
        "beskrivning": "Kommunen har köpt den gamla stationen och vill göra den till mötesplats.",
        "ansvarig_namnd": "Kultur- och fritidsnämnden",
        "proposer_namn": "Per Ek",
        "proposer_email": PROPOSER,
    },
    "Task_definiera_paverkbarhet": {
        "chk_beslut_paverkbarhet": True,
        "fragan_paverkbar": True,
        "beslutsfattare_paverkbara": True,
    },
    "Task_mal_syfte": {
        "chk_beslut_mal_syfte": True,
        "syfte": "Låta invånarna forma mötesplatsens innehåll.",
        "mal": "Ett förslag till verksamhet som nämnden kan besluta om i juni.",
        "resultat_anvandning": "Underlag till kultur- och fritidsnämndens beslut.",
    },
    "Task_valj_steg": {
        "delaktighetssteg": "dialog",
        "delaktighetssteg_motivering": "Invånarna ska samtala med varandra och med politiken om alternativen.",
        "roller_fortroendevalda": "Nämndens presidium lyssnar och svarar på frågor om processen.",
        "roller_tjanstepersoner": "Fritidskonsulent leder samtalen; kommunikatör dokumenterar.",
        "fortroendevalda_representerar_kommunen": True,
    },
    "Task_planering": PLANERING,
    "Task_genomforande": {
        "chk_genomforande_bjud_in_malgrupper": True,
        "chk_genomforande_checklista_avstamd": True,
        "chk_genomforande_anpassa_sammankomster": True,
        "chk_genomforande_dokumentera_material": True,
        "genomford_fran": "2026-04-20",
        "genomford_till": "2026-04-30",
        "antal_deltagare": 64,
        "deltagare_epost": DELTAGARE,
        "material_lagringsplats": "Diarium KFN 2026/55",
    },
    "Task_resultat": {
        "chk_resultat_sammanstall_analysera": True,
        "chk_resultat_presentera_analys": True,
        "chk_resultat_aterkoppla": True,
        "chk_resultat_utvardera_lardomar": True,
        "resultat_sammanstallning": "Café på helger, läxhjälp för unga, lokal för föreningarna.",
        "presentation_form": "Rapport och kort film på kommunens webbplats.",
        "dokumentation_lagringsplats": "Diarium KFN 2026/55, bilaga 2",
        "aterkoppling_text": "Tack för era idéer! Nämnden beslutar i juni; rapporten finns på webben.",
        "utvardering": "Bra uppslutning från föreningar; få unga på dialogcaféet.",
        "lardomar": "Hålla ett eget tillfälle på skolan för unga.",
    },
    "Task_ta_emot_resultat": {
        "resultat_anvands": "Nämnden ger förvaltningen i uppdrag att starta café och läxhjälp.",
        "ny_delaktighetsform": False,
    },
}

TWO_FORMS = [
    {**ANSWERS["Task_ta_emot_resultat"], "ny_delaktighetsform": True},
    ANSWERS["Task_ta_emot_resultat"],
]

SCENARIOS = [
    Scenario(
        "dialog genomförd",
        end="EndEvent_genomford",
        mails=("Send_aterkoppling_deltagare", "Send_resultat_politiker"),
    ),
    Scenario(
        "frågan inte påverkbar",
        {
            "Task_definiera_paverkbarhet": {
                "fragan_paverkbar": False,
                "skal_ej_paverkbar": "lagstyrd",
                "skal_beskrivning": SKAL,
            }
        },
        end="EndEvent_ingen_dialog",
        avoids=("Task_mal_syfte",),
        mails=("Send_ingen_dialog",),
    ),
    Scenario(
        "först dialog, sedan konsultation",
        {
            "Task_ta_emot_resultat": TWO_FORMS,
            "Task_valj_steg": [
                ANSWERS["Task_valj_steg"],
                {**ANSWERS["Task_valj_steg"], "delaktighetssteg": "konsultation"},
            ],
        },
        end="EndEvent_genomford",
        visits=("Script_nollstall_checklista",),
        mails=("Send_aterkoppling_deltagare", "Send_resultat_politiker") * 2,
    ),
]


def test_full_dialogue_on_both_databases(d):
    setup(d, DIALOG)
    w = run_scenario(d, DIALOG, ANSWERS, SCENARIOS[0])
    assert w.tasks == [
        "Task_registrera_forslag",
        "Task_definiera_paverkbarhet",
        "Task_mal_syfte",
        "Task_valj_steg",
        "Task_planering",
        "Task_genomforande",
        "Task_resultat",
        "Task_ta_emot_resultat",
    ]
    feedback, politicians = w.mails
    assert feedback["to"] == DELTAGARE and ANSWERS["Task_resultat"]["aterkoppling_text"] in feedback["body"]
    assert politicians["to"] == "fortroendevald@example.se" and "(dialog)" in politicians["body"]
    assert w.variables["delaktighetssteg"] == "dialog"


@pytest.mark.slow
def test_every_gateway_branch(sqlite_d):
    setup(sqlite_d, DIALOG)
    walks = [run_scenario(sqlite_d, DIALOG, ANSWERS, sc) for sc in SCENARIOS]
    assert walks[2].tasks.count("Task_planering") == 2 and walks[2].tasks.count("Task_resultat") == 2
    assert walks[2].variables["delaktighetssteg"] == "konsultation"
    assert_covers_gateways(DIALOG, walks)


def test_gate_no_records_reason_and_tells_proposer(d):
    setup(d, DIALOG)
    w = run_scenario(d, DIALOG, ANSWERS, SCENARIOS[1])
    assert w.variables["skal_ej_paverkbar"] == "lagstyrd" and w.variables["skal_beskrivning"] == SKAL
    [mail] = w.mails
    assert mail["to"] == PROPOSER and "Brösarp" in mail["subject"]
    assert SKAL in mail["body"] and "Skäl: lagstyrd" in mail["body"]


def test_second_form_starts_with_a_cleared_checklist(sqlite_d):
    """The script resets the checklist, so the second round's items must be ticked again."""
    setup(sqlite_d, DIALOG)
    answers = {**ANSWERS, "Task_ta_emot_resultat": TWO_FORMS}
    case_id = start(sqlite_d, DIALOG)
    first = advance_to(sqlite_d, case_id, answers, "Task_ta_emot_resultat")
    sqlite_d.complete_task(first.id, user_for("fortroendevald"), TWO_FORMS[0])
    task = advance_to(sqlite_d, case_id, answers, "Task_planering")
    assert task.id != first.id
    data = case_row(sqlite_d, case_id).data
    unticked = {k: False for k in PLANERING if k.startswith("chk_")}
    assert all(not data.get(k) for k in unticked), {k: data.get(k) for k in unticked}
    assert not data.get("chk_resultat_aterkoppla") and not data.get("chk_genomforande_bjud_in_malgrupper")
    with pytest.raises(ValidationFailed) as err:
        sqlite_d.complete_task(task.id, user_for("tjansteperson"), {**PLANERING, **unticked})
    assert {p.where for p in err.value.problems} == set(unticked)
    run_until_end(sqlite_d, case_id, {**answers, "Task_ta_emot_resultat": TWO_FORMS[1]})
    assert not open_tasks(sqlite_d, case_id)


@pytest.mark.parametrize(
    "task_id", ["Task_definiera_paverkbarhet", "Task_planering", "Task_ta_emot_resultat"]
)
def test_outsider_cannot_complete(sqlite_d, task_id):
    setup(sqlite_d, DIALOG)
    assert_forbidden_for_outsider(sqlite_d, DIALOG, ANSWERS, task_id)


def test_unticked_checklist_and_missing_feedback_are_refused(sqlite_d):
    setup(sqlite_d, DIALOG)
    assert_refused(
        sqlite_d,
        DIALOG,
        ANSWERS,
        "Task_definiera_paverkbarhet",
        {"chk_beslut_paverkbarhet": False},
        {"chk_beslut_paverkbarhet"},
    )
    assert_refused(
        sqlite_d,
        DIALOG,
        ANSWERS,
        "Task_resultat",
        {
            "chk_resultat_aterkoppla": False,
            "chk_resultat_utvardera_lardomar": ...,
            "aterkoppling_text": "",
            "utvardering": ...,
        },
        {"chk_resultat_aterkoppla", "chk_resultat_utvardera_lardomar", "aterkoppling_text", "utvardering"},
    )


def test_no_path_to_the_end_around_feedback_or_evaluation():
    assert_cannot_skip(
        DIALOG,
        {"EndEvent_genomford"},
        {"Task_resultat"},  # feedback and evaluation items of the checklist's Resultat phase
        {"Send_aterkoppling_deltagare"},
        {"Send_resultat_politiker"},
        {"Task_planering"},
    )

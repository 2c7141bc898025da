"""Hässelby-Vällingby stadsdelsnämnd: hv_intern_dialog, hv_extern_initiativ and hv_revidering walked
through the engine (processes/hasselby-vallingby/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import clock
from tests.processes.walker import (
    Diagram,
    Scenario,
    advance_to,
    assert_cannot_skip,
    assert_covers_gateways,
    assert_forbidden_for_outsider,
    assert_refused,
    case_row,
    observe,
    open_tasks,
    run_scenario,
    run_until_end,
    setup,
    start,
    user_for,
)

INTERN = Diagram.load("hasselby-vallingby/intern_dialog.bpmn")
EXTERN = Diagram.load("hasselby-vallingby/extern_initiativ.bpmn")
REVISION = Diagram.load("hasselby-vallingby/revidering.bpmn")

PROPOSER = "enhetschef.fritid@example.se"
INITIATOR = "anna.initiativ@example.se"
SKAL = "Nedläggningen av fritidsgården följer av kommunfullmäktiges budgetbeslut; nämnden kan inte ändra den."
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

PLAN = {
    "dialog_rubrik": "Trygghet i Vällingby centrum",
    "berord_verksamhet": "Fritid och kultur",
    "fraga_till_medborgare": "Vad skulle göra att du känner dig tryggare i Vällingby centrum på kvällarna?",
    "syfte": "Få boendes och näringsidkares bild av otryggheten inför trygghetsplanen.",
    "mal_generellt": "Öka förtroendet mellan boende och förvaltningen.",
    "mal_specifikt": "Tre prioriterade åtgärder till trygghetsplanen 2027.",
    "styrprocess": "Verksamhetsplan 2027, trygghetsplan",
    "skede_i_processen": "tidigt",
    "inflytande": "Vilka åtgärder som prioriteras i trygghetsplanen.",
    "resultat_anvandning": "Underlag till nämndens beslut om trygghetsplanen.",
    "genomforande": "Trygghetsvandring, digital enkät och två dialogkvällar.",
    "tidplan": "April–maj 2026; beslut i nämnden september 2026.",
    "planerat_startdatum": "2026-04-13",
    "planerat_slutdatum": "2026-05-29",
    "aterkoppling_hur": "Mejl till deltagarna och information på stadsdelens webbplats.",
    "aterkoppling_senast": "2026-10-15",
    "ekonomiska_resurser": "Lokal, fika och översättning.",
    "beraknad_kostnad": 45000,
    "personella_resurser": "Två fritidsledare och en kommunikatör, 80 timmar.",
    "mg_berorda_lagaktiva": True,
    "mg_berorda_aktiva": True,
    "mg_ickeberorda_aktiva": False,
    "mg_ickeberorda_ickeaktiva": False,
    "malgrupper_beskrivning": "Unga 13–19 år, boende runt centrum, butiksägare.",
    "bredd": "geografiskt_omrade",
    "metod": "bada",
    "metod_beskrivning": "Trygghetsvandring på plats och enkät på webben.",
    "fragor_per_malgrupp": "Egna frågor till unga om kvällstid.",
    "tidigare_historia": "Trygghetsvandring 2023; åtgärderna belysning och väktare genomfördes.",
    "deltar_i_genomforande": "Fritidsgården, polisen och fastighetsägarna.",
    "intern_kommunikation": "Information på ledningsgruppen och på APT.",
    "utvardering_plan": "Enkät till deltagarna och utvärdering i ledningsgruppen.",
}

DIALOG_TAIL = {
    "Task_informera_malgrupper": {
        "information_text": "Välkommen på trygghetsvandring 15 april kl. 18 från tunnelbanan.",
        "information_kanaler": "Affischer i centrum, stadsdelens webbplats, Instagram",
        "information_datum": "2026-04-01",
    },
    "Task_genomfora_dialog": {
        "genomford_fran": "2026-04-15",
        "genomford_till": "2026-05-28",
        "genomford_metod": "bada",
        "genomford_plats": "Vällingby centrum och digitalt",
        "antal_deltagare": 142,
        "deltagare_beskrivning": "Mest boende 30–60 år; 25 unga på fritidsgården.",
        "deltog_berorda_lagaktiva": True,
        "deltog_berorda_aktiva": True,
        "deltog_ickeberorda_aktiva": False,
        "deltog_ickeberorda_ickeaktiva": False,
        "saknade_malgrupper": "Äldre över 75.",
        "resultat_sammanstallning": "Belysning i gångtunneln, fler vuxna i rörelse, öppet längre på fritidsgården.",
        "dokumentation_plats": "Diarium HV 2026/0231",
    },
    "Task_utvardera_dialog": {
        "utvardering_analys": "Målet nåddes; unga var väl representerade.",
        "mal_uppfyllelse": "ja",
        "utvardering_genomforande": "Vandringen gav mest; enkäten nådde nya grupper.",
        "lardomar": "Bjud in äldre via träffpunkterna.",
        "forslag_till_beslut": "Ta in de tre åtgärderna i trygghetsplanen 2027.",
        "utvardering_datum": "2026-06-15",
    },
    "Task_registrera_beslut_utvardering": {
        "utvardering_beslut": "Nämnden beslutade att ta in åtgärderna i trygghetsplanen.",
        "utvardering_beslut_datum": "2026-09-17",
        "utvardering_beslut_protokoll": "Protokoll 2026-09-17 § 12",
    },
    "Task_implementera_beslut": {
        "implementering_process": "Trygghetsplanen",
        "implementering_beskrivning": "Åtgärderna förs in i trygghetsplanen och budget 2027.",
        "implementering_datum": "2026-10-01",
    },
    "Task_aterkoppla_deltagare": {
        "aterkoppling_skickad": True,
        "aterkoppling_datum": "2026-10-05",
        "aterkoppling_satt": "Mejl och webbplats",
        "aterkoppling_innehall": "Nämndens beslut och vilka åtgärder som genomförs.",
        "aterkoppling_enhet": "Fritid och kultur",
    },
}

INTERN_ANSWERS = {
    "Task_ta_fram_forslag": {"proposer_email": PROPOSER, **PLAN},
    "Task_prova_paverkbarhet": {
        "fragan_paverkbar": True,
        "beslutsfattare_paverkbara": True,
        "provning_kommentar": "Trygghetsplanen beslutas av nämnden.",
    },
    "Task_ange_skal": {"skal_ej_paverkbar": "annat", "skal_beskrivning": SKAL},
    "Task_skriva_tjansteutlatande": {
        "tjansteutlatande_diarienummer": "HV 2026/0231",
        "tjansteutlatande_datum": "2026-03-20",
        "tjansteutlatande_forslag": "Förvaltningen föreslår en medborgardialog om trygghet i Vällingby centrum.",
        "behov_av_resursbeslut": False,
    },
    "Task_besluta_resurser": {
        "resurser_beviljade": True,
        "beviljad_budget": 45000,
        "resursbeslut_motivering": "Ryms i avdelningens budget.",
        "resursbeslut_datum": "2026-03-25",
    },
    **DIALOG_TAIL,
}

UNTICKED_FIRST = [
    {**DIALOG_TAIL["Task_aterkoppla_deltagare"], "aterkoppling_skickad": False},
    DIALOG_TAIL["Task_aterkoppla_deltagare"],
]

INTERN_SCENARIOS = [
    Scenario(
        "ja, inget resursbeslut", end="EndEvent_dialog_klar", avoids=("Task_besluta_resurser",), mails=()
    ),
    Scenario(
        "ja, resurser beviljas",
        {"Task_skriva_tjansteutlatande": {"behov_av_resursbeslut": True}},
        end="EndEvent_dialog_klar",
        visits=("Task_besluta_resurser", "Task_informera_malgrupper"),
        mails=(),
    ),
    Scenario(
        "resurser beviljas inte",
        {
            "Task_skriva_tjansteutlatande": {"behov_av_resursbeslut": True},
            "Task_besluta_resurser": {"resurser_beviljade": False, "beviljad_budget": None},
        },
        end="EndEvent_ingen_dialog_resurser",
        avoids=("Task_informera_malgrupper",),
        mails=("SendTask_meddela_resurser_saknas",),
    ),
    Scenario(
        "ej påverkbar",
        {"Task_prova_paverkbarhet": {"fragan_paverkbar": False}},
        end="EndEvent_ingen_dialog",
        visits=("Task_ange_skal",),
        avoids=("Task_skriva_tjansteutlatande",),
        mails=("SendTask_meddela_ingen_dialog",),
    ),
    Scenario(
        "återkoppling inte skickad första gången",
        {"Task_aterkoppla_deltagare": UNTICKED_FIRST},
        end="EndEvent_dialog_klar",
    ),
]

MESSAGE = {
    "initiator_namn": "Anna Berg",
    "initiator_email": INITIATOR,
    "initiativ_text": "Fritidsgården i Råcksta ska läggas ned. Vi vill ha en dialog om vad som ska finnas i stället.",
    "inkom_datum": "2026-03-02",
}
MSG = ("initiativ_mottaget", MESSAGE)

EXTERN_ANSWERS = {
    "Task_registrera_initiativ": {
        "diarienummer": "HV 2026/0240",
        "initiativ_anledning": "nedlaggning",
        "initiativ_sammanfattning": "Boende vill ha dialog om fritidsgården i Råcksta.",
        "ansvarig_enhet": "Fritid och kultur",
    },
    "Task_utreda_mojlighet": {
        "fragan_paverkbar": True,
        "beslutsfattare_paverkbara": True,
        "utredning_sammanfattning": "Verksamhetens innehåll efter nedläggningen är påverkbart.",
    },
    "Task_planera_dialog": PLAN,
    "Task_planera_efter_beslut": PLAN,
    "Task_ange_skal": {"skal_ej_paverkbar": "lagstyrd", "skal_beskrivning": SKAL},
    "Task_skriva_tjansteutlatande": {
        "tjansteutlatande_diarienummer": "HV 2026/0240",
        "tjansteutlatande_datum": "2026-04-10",
        "tjansteutlatande_forslag": "Förvaltningen föreslår en dialog om verksamheten i Råcksta.",
        "forvaltningens_forslag": "genomfor_dialog",
    },
    "Task_registrera_namndbeslut": {
        "namnd_beslut_dialog": True,
        "namnd_beslut_motivering": "Nämnden beslutade att genomföra en medborgardialog om Råcksta.",
        "namnd_beslut_datum": "2026-05-21",
        "namnd_protokoll": "Protokoll 2026-05-21 § 8",
    },
    **DIALOG_TAIL,
}

NAMND_NEJ = {
    "namnd_beslut_dialog": False,
    "namnd_beslut_motivering": "Nämnden beslutade att inte genomföra någon dialog eftersom beslutet är fattat.",
}

EXTERN_SCENARIOS = [
    Scenario(
        "påverkbar, nämnden ja",
        end="EndEvent_dialog_klar",
        visits=("Task_planera_dialog", "Task_informera_malgrupper"),
        avoids=("Task_planera_efter_beslut", "Task_ange_skal"),
        mails=("SendTask_mottagningsbevis", "SendTask_svar_initiativtagare"),
        message=MSG,
    ),
    Scenario(
        "ej påverkbar, nämnden nej",
        {"Task_utreda_mojlighet": {"fragan_paverkbar": False}, "Task_registrera_namndbeslut": NAMND_NEJ},
        end="EndEvent_ingen_dialog",
        visits=("Task_ange_skal",),
        avoids=("Task_informera_malgrupper",),
        mails=("SendTask_mottagningsbevis", "SendTask_svar_initiativtagare"),
        message=MSG,
    ),
    Scenario(
        "ej påverkbar, nämnden ja ändå",
        {
            "Task_utreda_mojlighet": {"beslutsfattare_paverkbara": False},
            "Task_aterkoppla_deltagare": UNTICKED_FIRST,
        },
        end="EndEvent_dialog_klar",
        visits=("Task_ange_skal", "Task_planera_efter_beslut", "Task_informera_malgrupper"),
        message=MSG,
    ),
    Scenario(
        "påverkbar, nämnden nej",
        {"Task_registrera_namndbeslut": NAMND_NEJ},
        end="EndEvent_ingen_dialog",
        visits=("Task_planera_dialog",),
        message=MSG,
    ),
]

REVISION_ANSWERS = {
    "Task_se_over_rutin": {
        "revision_anledning": "arlig",
        "rutin_bedomning": "Rollerna stämmer; mallen för redovisning behöver ett fält för barn och unga.",
        "rutin_andrad": True,
        "andringar_beskrivning": "Nytt fält om barn och unga i redovisningsmallen.",
    },
    "Task_registrera_beslut_rutin": {
        "rutin_beslut": "Nämnden fastställde den reviderade rutinen.",
        "rutin_beslut_datum": "2026-02-19",
        "rutin_beslut_protokoll": "Protokoll 2026-02-19 § 5",
    },
    "Task_registrera_diagramversion": {
        "diagram_version": "hv_intern_dialog v2",
        "driftsatt_datum": "2026-02-23",
    },
    "Task_faststall_revision": {
        "revision_beslut": "Rutinen är reviderad och aktuell.",
        "nasta_revision": "2027-02-01",
    },
}

REVISION_SCENARIOS = [
    Scenario(
        "rutinen ändras",
        end="EndEvent_rutin_aktuell",
        visits=("Task_registrera_beslut_rutin", "Task_registrera_diagramversion"),
    ),
    Scenario(
        "rutinen oförändrad",
        {"Task_se_over_rutin": {"rutin_andrad": False, "andringar_beskrivning": "Inga ändringar."}},
        end="EndEvent_rutin_aktuell",
        avoids=("Task_registrera_beslut_rutin",),
    ),
]


def _msg(payload=None):
    return ("initiativ_mottaget", dict(payload or MESSAGE))


# --- internal initiative ------------------------------------------------------------------------------


def test_intern_full_dialogue_on_both_databases(d):
    setup(d, INTERN)
    w = run_scenario(d, INTERN, INTERN_ANSWERS, INTERN_SCENARIOS[0])
    assert w.tasks == [
        "Task_ta_fram_forslag",
        "Task_prova_paverkbarhet",
        "Task_skriva_tjansteutlatande",
        "Task_informera_malgrupper",
        "Task_genomfora_dialog",
        "Task_utvardera_dialog",
        "Task_registrera_beslut_utvardering",
        "Task_implementera_beslut",
        "Task_aterkoppla_deltagare",
    ]
    assert w.variables["syfte"] == PLAN["syfte"] and w.variables["aterkoppling_skickad"] is True


@pytest.mark.slow
def test_intern_every_gateway_branch(sqlite_d):
    setup(sqlite_d, INTERN)
    walks = [run_scenario(sqlite_d, INTERN, INTERN_ANSWERS, sc) for sc in INTERN_SCENARIOS]
    assert walks[-1].tasks.count("Task_aterkoppla_deltagare") == 2
    [refused] = walks[2].mails
    assert refused["to"] == PROPOSER and "Ryms i avdelningens budget." in refused["body"]
    assert_covers_gateways(INTERN, walks)


def test_intern_gate_no_records_reason_and_tells_proposer(d):
    setup(d, INTERN)
    w = run_scenario(d, INTERN, INTERN_ANSWERS, INTERN_SCENARIOS[3])
    assert w.variables["fragan_paverkbar"] is False
    assert w.variables["skal_ej_paverkbar"] == "annat" and w.variables["skal_beskrivning"] == SKAL
    [mail] = w.mails
    assert mail["to"] == PROPOSER
    assert PLAN["dialog_rubrik"] in mail["subject"]
    assert SKAL in mail["body"] and "Skäl: annat" in mail["body"]


@pytest.mark.parametrize("task_id", ["Task_prova_paverkbarhet", "Task_informera_malgrupper"])
def test_intern_outsider_cannot_complete(sqlite_d, task_id):
    setup(sqlite_d, INTERN)
    assert_forbidden_for_outsider(sqlite_d, INTERN, INTERN_ANSWERS, task_id)


def test_intern_feedback_and_evaluation_required(sqlite_d):
    setup(sqlite_d, INTERN)
    assert_refused(
        sqlite_d,
        INTERN,
        INTERN_ANSWERS,
        "Task_aterkoppla_deltagare",
        {"aterkoppling_innehall": "", "aterkoppling_datum": ...},
        {"aterkoppling_innehall", "aterkoppling_datum"},
    )
    assert_refused(
        sqlite_d,
        INTERN,
        INTERN_ANSWERS,
        "Task_utvardera_dialog",
        {"utvardering_analys": "", "mal_uppfyllelse": ...},
        {"utvardering_analys", "mal_uppfyllelse"},
    )


def test_intern_unticked_feedback_keeps_the_case_open(sqlite_d):
    setup(sqlite_d, INTERN)
    case_id = start(sqlite_d, INTERN)
    task = advance_to(sqlite_d, case_id, INTERN_ANSWERS, "Task_aterkoppla_deltagare")
    sqlite_d.complete_task(task.id, user_for("kommunikator"), UNTICKED_FIRST[0])
    [again] = open_tasks(sqlite_d, case_id)
    assert again.element_id == "Task_aterkoppla_deltagare" and again.id != task.id
    assert case_row(sqlite_d, case_id).status == "active"


def test_no_path_to_the_end_around_feedback_or_evaluation():
    for diagram in (INTERN, EXTERN):
        assert_cannot_skip(
            diagram,
            {"EndEvent_dialog_klar"},
            {"Task_aterkoppla_deltagare"},
            {"Gateway_aterkoppling_skickad"},
            {"Task_utvardera_dialog"},
        )


# --- external initiative ------------------------------------------------------------------------------


def test_extern_receipt_at_once_and_yes_continues_into_the_dialogue(d):
    setup(d, EXTERN)
    [info] = d.deliver_message(*_msg(), start_business_key="HV 2026/0240")
    assert info.business_key == "HV 2026/0240" and info.status == "active"
    now = observe(d, EXTERN, info.id)
    [receipt] = now.mails
    assert receipt["element_id"] == "SendTask_mottagningsbevis" and receipt["to"] == INITIATOR
    assert "Hej Anna Berg!" in receipt["body"] and "när nämnden har fattat beslut" in receipt["body"]
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Task_registrera_initiativ"]
    assert now.variables["initiator_email"] == INITIATOR

    case_id = info.id
    task = advance_to(d, case_id, EXTERN_ANSWERS, "Task_informera_malgrupper")
    assert task.candidate_groups == ["kommunikator"]
    run_until_end(d, case_id, EXTERN_ANSWERS)
    w = observe(d, EXTERN, case_id)
    assert w.ends == ["EndEvent_dialog_klar"]
    answer = w.mails_from("SendTask_svar_initiativtagare")[0]
    assert answer["to"] == INITIATOR
    assert EXTERN_ANSWERS["Task_registrera_namndbeslut"]["namnd_beslut_motivering"] in answer["body"]
    assert w.tasks.index("Task_registrera_namndbeslut") < w.tasks.index("Task_informera_malgrupper")


@pytest.mark.slow
def test_extern_every_gateway_branch(sqlite_d):
    setup(sqlite_d, EXTERN)
    walks = [
        run_scenario(sqlite_d, EXTERN, EXTERN_ANSWERS, sc, business_key=f"HV 2026/03{n:02d}")
        for n, sc in enumerate(EXTERN_SCENARIOS)
    ]
    assert_covers_gateways(EXTERN, walks)


def test_extern_no_mails_the_initiator_the_decision(sqlite_d):
    setup(sqlite_d, EXTERN)
    w = run_scenario(sqlite_d, EXTERN, EXTERN_ANSWERS, EXTERN_SCENARIOS[1], business_key="HV 2026/0250")
    assert w.variables["skal_beskrivning"] == SKAL
    [_, answer] = w.mails
    assert answer["to"] == INITIATOR and NAMND_NEJ["namnd_beslut_motivering"] in answer["body"]
    assert "HV 2026/0240" in answer["body"]  # the diarienummer


def test_extern_reminder_after_eleven_months(sqlite_d):
    setup(sqlite_d, EXTERN)
    clock.set(T0)
    [info] = sqlite_d.deliver_message(*_msg(), start_business_key="HV 2026/0260")
    task = advance_to(sqlite_d, info.id, EXTERN_ANSWERS, "Task_registrera_namndbeslut")
    due = case_row(sqlite_d, info.id).next_timer_at
    assert due is not None and T0 + timedelta(days=330) < due.replace(tzinfo=UTC) < T0 + timedelta(days=340)
    clock.set(T0 + timedelta(days=340))
    assert sqlite_d.wake_due_cases() == 1
    w = observe(sqlite_d, EXTERN, info.id)
    [reminder] = w.mails_from("SendTask_paminnelse_beslut")
    assert reminder["to"] == "avdelningschef@example.se" and "HV 2026/0240" in reminder["subject"]
    assert [t.id for t in open_tasks(sqlite_d, info.id)] == [task.id]  # non-interrupting
    run_until_end(sqlite_d, info.id, EXTERN_ANSWERS)
    assert sorted(observe(sqlite_d, EXTERN, info.id).ends) == [
        "EndEvent_dialog_klar",
        "EndEvent_paminnelse_skickad",
    ]


@pytest.mark.parametrize("task_id", ["Task_registrera_namndbeslut", "Task_utreda_mojlighet"])
def test_extern_outsider_cannot_complete(sqlite_d, task_id):
    setup(sqlite_d, EXTERN)
    assert_forbidden_for_outsider(sqlite_d, EXTERN, EXTERN_ANSWERS, task_id, message=_msg())


# --- yearly revision ------------------------------------------------------------------------------------


def test_revision_ends_with_next_date_on_both_databases(d):
    setup(d, REVISION)
    w = run_scenario(d, REVISION, REVISION_ANSWERS, REVISION_SCENARIOS[0])
    assert w.variables["nasta_revision"] == "2027-02-01"
    assert w.variables["diagram_version"] == "hv_intern_dialog v2"


def test_revision_every_gateway_branch(sqlite_d):
    setup(sqlite_d, REVISION)
    walks = [run_scenario(sqlite_d, REVISION, REVISION_ANSWERS, sc) for sc in REVISION_SCENARIOS]
    assert all(w.variables["nasta_revision"] == "2027-02-01" for w in walks)
    assert_covers_gateways(REVISION, walks)


def test_revision_needs_next_date_and_the_director(sqlite_d):
    setup(sqlite_d, REVISION)
    assert_refused(
        sqlite_d,
        REVISION,
        REVISION_ANSWERS,
        "Task_faststall_revision",
        {"nasta_revision": ""},
        {"nasta_revision"},
    )
    assert_forbidden_for_outsider(sqlite_d, REVISION, REVISION_ANSWERS, "Task_faststall_revision")

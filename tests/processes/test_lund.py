"""Lunds kommun: lund_dialog walked through the engine (processes/lund/README.md)."""

from __future__ import annotations

import pytest

from tests.processes.walker import (
    Diagram,
    Scenario,
    assert_cannot_skip,
    assert_covers_gateways,
    assert_forbidden_for_outsider,
    assert_refused,
    merged,
    run_scenario,
    setup,
)

DIALOG = Diagram.load("lund/dialog.bpmn")
PROPOSER = "karin.forslag@example.se"
DELTAGARE = "deltagare-stadsparken@lists.example.se"
SKAL = "Detaljplanen för Stadsparken antogs av byggnadsnämnden i mars; frågan är avgjord."

FORMER_INGA = {
    "form_information": False,
    "form_konsultation": False,
    "form_diskussion": False,
    "form_larande_dialog": False,
    "form_medskapande_medbestammande": False,
}

ANSWERS = {
    "Task_registrera_forslag": {
        "fraga": "Hur ska Stadsparkens lekplats förnyas?",
        "beskrivning": "Lekplatsen i Stadsparken ska byggas om 2027. Vi vill veta vad barn och föräldrar vill ha.",
        "ansvarig_namnd": "Tekniska nämnden",
        "proposer_namn": "Karin Lind",
        "proposer_email": PROPOSER,
    },
    "Task_prova_ar_medborgardialog": {
        "ar_forankring_av_fattat_beslut": False,
        "ar_marknadsforing": False,
        "gors_for_att_andra_gor": False,
        "ar_allman_information": False,
        "dialogtyp": "medborgardialog",
        "provning_motivering": "Frågan berör alla som använder parken och inget beslut är fattat.",
    },
    "Task_prova_paverkbarhet": {
        "fragan_paverkbar": True,
        "beslutsfattare_paverkbara": True,
        "ej_tagit_stallning": True,
        "beslutsprocess_skede": "Förstudie; investeringsbeslut i tekniska nämnden hösten 2026.",
        "planerat_beslut_datum": "2026-10-15",
    },
    "Task_planera": {
        "syfte": "Få barns och föräldrars prioriteringar inför ombyggnaden.",
        "mal": "Minst 200 svar, varav minst hälften från barn under 13 år.",
        "paverkan_deltagare": "Vilka lekredskap och vilken inriktning lekplatsen får inom budgeten.",
        "resultat_anvandning": "Underlag till tekniska nämndens investeringsbeslut.",
        "aterkoppling_hur": "Mejl till deltagarna och anslag på lekplatsen.",
        "aterkoppling_senast": "2026-11-30",
        "malgrupper": "Barn 3–12 år, föräldrar, förskolor i centrum.",
        "ovana_deltagare": "Besök på förskolor och fritidsgårdar; enkät på lätt svenska och arabiska.",
        "barn_unga_plan": "Ritworkshop för barn på plats i parken.",
        "digitala_kanaler_plan": "Webbenkät på lund.se med karta.",
        "medverkande_roller": "Två ledamöter i tekniska nämnden lyssnar vid workshopen.",
        "form_information": True,
        "form_konsultation": True,
        "form_diskussion": False,
        "form_larande_dialog": False,
        "form_medskapande_medbestammande": False,
        "metod_enkat": True,
        "metod_workshop": True,
        "metod_walk_and_talk": True,
        "metod_ovriga": "Utställning av förslagen på biblioteket.",
    },
    "Task_genomfora": {
        "paverkan_presenterad_vid_start": True,
        "genomford_fran": "2026-05-04",
        "genomford_till": "2026-05-31",
        "antal_deltagare": 236,
        "digitala_kanaler": "Webbenkät (181 svar).",
        "barn_unga_deltagande": "deltog",
        "barn_unga_antal": 118,
        "barn_unga_kommentar": "Ritworkshop med två förskoleklasser.",
        "deltagare_epost": DELTAGARE,
    },
    "Task_dokumentera": {
        "resultat_sammanstallning": "Klätterställning och vattenlek högst prioriterat; fler bänkar i skugga.",
        "dokumentation_lagringsplats": "Diarium TN 2026/0412, bilaga 3",
    },
    "Task_ta_emot_resultat": {
        "resultat_anvands": "Vattenlek och klätterställning ingår i investeringsförslaget.",
        "beslutsinstans": "Tekniska nämnden",
    },
    "Task_aterkoppla": {
        "aterkoppling_text": "Tack! Era två högsta önskemål finns med i förslaget till nämnden.",
        "aterkoppling_kanaler": "Mejl, anslag i parken, lund.se",
    },
    "Task_utvardera": {
        "eval_syfte_uppnatt": "ja",
        "eval_nadde_ovana": "delvis",
        "eval_barn_unga": "ja",
        "eval_digitala_kanaler": "Enkäten gav flest svar; kartfunktionen användes lite.",
        "eval_deltagarnas_upplevelse": "Positiv; barnen uppskattade att rita.",
        "eval_lardomar": "Gå ut tidigare till förskolorna.",
    },
}

SCENARIOS = [
    Scenario(
        "medborgardialog",
        end="EndEvent_genomford",
        visits=("Gw_former_valda", "Send_aterkoppling"),
        mails=("Send_aterkoppling",),
    ),
    Scenario(
        "brukardialog går samma väg",
        {"Task_prova_ar_medborgardialog": {"dialogtyp": "brukardialog"}},
        end="EndEvent_genomford",
        mails=("Send_aterkoppling",),
    ),
    Scenario(
        "marknadsföring är inte medborgardialog",
        {"Task_prova_ar_medborgardialog": {"ar_marknadsforing": True}},
        end="EndEvent_inte_medborgardialog",
        avoids=("Task_prova_paverkbarhet",),
        mails=("Send_inte_medborgardialog",),
    ),
    Scenario(
        "kunddialog hänvisas",
        {"Task_prova_ar_medborgardialog": {"dialogtyp": "kunddialog"}},
        end="EndEvent_kunddialog",
        mails=("Send_kunddialog",),
    ),
    Scenario(
        "förtroendevalda har redan tagit ställning",
        {
            "Task_prova_paverkbarhet": {
                "ej_tagit_stallning": False,
                "skal_ej_paverkbar": "stallning_tagen",
                "skal_beskrivning": SKAL,
            }
        },
        end="EndEvent_ingen_dialog",
        mails=("Send_ingen_dialog",),
    ),
    Scenario(
        "ingen inflytandeform vald först",
        {
            "Task_planera": [
                merged(ANSWERS, {"Task_planera": FORMER_INGA})["Task_planera"],
                ANSWERS["Task_planera"],
            ]
        },
        end="EndEvent_genomford",
    ),
]


def test_full_dialogue_on_both_databases(d):
    setup(d, DIALOG)
    w = run_scenario(d, DIALOG, ANSWERS, SCENARIOS[0])
    assert w.tasks == [
        "Task_registrera_forslag",
        "Task_prova_ar_medborgardialog",
        "Task_prova_paverkbarhet",
        "Task_planera",
        "Task_genomfora",
        "Task_dokumentera",
        "Task_ta_emot_resultat",
        "Task_aterkoppla",
        "Task_utvardera",
    ]
    [mail] = w.mails
    assert mail["to"] == DELTAGARE
    assert "Stadsparkens lekplats" in mail["subject"]
    assert ANSWERS["Task_aterkoppla"]["aterkoppling_text"] in mail["body"]
    assert ANSWERS["Task_ta_emot_resultat"]["resultat_anvands"] in mail["body"]
    assert w.variables["barn_unga_deltagande"] == "deltog" and w.variables["antal_deltagare"] == 236


@pytest.mark.slow
def test_every_gateway_branch(sqlite_d):
    setup(sqlite_d, DIALOG)
    walks = [run_scenario(sqlite_d, DIALOG, ANSWERS, sc) for sc in SCENARIOS]
    assert walks[-1].tasks.count("Task_planera") == 2
    assert_covers_gateways(DIALOG, walks)


def test_gate_no_records_reason_and_tells_proposer(d):
    setup(d, DIALOG)
    w = run_scenario(d, DIALOG, ANSWERS, SCENARIOS[4])
    assert w.variables["ej_tagit_stallning"] is False
    assert w.variables["skal_ej_paverkbar"] == "stallning_tagen"
    assert w.variables["skal_beskrivning"] == SKAL
    [mail] = w.mails_from("Send_ingen_dialog")
    assert mail["to"] == PROPOSER
    assert SKAL in mail["body"] and "stallning_tagen" in mail["body"]


def test_gate_no_when_question_not_influenceable(sqlite_d):
    setup(sqlite_d, DIALOG)
    reason = "Frågan styrs av plan- och bygglagen."
    sc = Scenario(
        "ej påverkbar",
        {
            "Task_prova_paverkbarhet": {
                "fragan_paverkbar": False,
                "skal_ej_paverkbar": "lagstyrd",
                "skal_beskrivning": reason,
            }
        },
        end="EndEvent_ingen_dialog",
        avoids=("Task_planera",),
    )
    w = run_scenario(sqlite_d, DIALOG, ANSWERS, sc)
    assert w.variables["skal_beskrivning"] == reason
    [mail] = w.mails
    assert mail["to"] == PROPOSER and reason in mail["body"]


@pytest.mark.parametrize(
    "task_id", ["Task_prova_ar_medborgardialog", "Task_prova_paverkbarhet", "Task_ta_emot_resultat"]
)
def test_outsider_cannot_complete(sqlite_d, task_id):
    setup(sqlite_d, DIALOG)
    assert_forbidden_for_outsider(sqlite_d, DIALOG, ANSWERS, task_id)


def test_feedback_and_evaluation_required(sqlite_d):
    setup(sqlite_d, DIALOG)
    assert_refused(
        sqlite_d,
        DIALOG,
        ANSWERS,
        "Task_aterkoppla",
        {"aterkoppling_text": "", "aterkoppling_kanaler": ...},
        {"aterkoppling_text", "aterkoppling_kanaler"},
    )
    assert_refused(
        sqlite_d,
        DIALOG,
        ANSWERS,
        "Task_utvardera",
        {"eval_syfte_uppnatt": ..., "eval_lardomar": "  ", "eval_deltagarnas_upplevelse": None},
        {"eval_syfte_uppnatt", "eval_lardomar", "eval_deltagarnas_upplevelse"},
    )
    assert_refused(
        sqlite_d,
        DIALOG,
        ANSWERS,
        "Task_genomfora",
        {"deltagare_epost": "", "paverkan_presenterad_vid_start": False},
        {"deltagare_epost", "paverkan_presenterad_vid_start"},
    )


def test_no_path_to_the_end_around_feedback_or_evaluation():
    assert_cannot_skip(
        DIALOG,
        {"EndEvent_genomford"},
        {"Task_aterkoppla"},
        {"Send_aterkoppling"},
        {"Task_utvardera"},
        {"Task_dokumentera"},
    )

"""Haninge kommun: haninge_dialog, haninge_intake and haninge_policyuppfoljning walked through the engine
(processes/haninge/README.md)."""

from __future__ import annotations

import pytest

from tests.processes.walker import (
    Diagram,
    Scenario,
    assert_cannot_skip,
    assert_covers_gateways,
    assert_forbidden_for_outsider,
    assert_refused,
    observe,
    open_tasks,
    run_scenario,
    setup,
)

DIALOG = Diagram.load("haninge/dialog.bpmn")
INTAKE = Diagram.load("haninge/intake.bpmn")
POLICY = Diagram.load("haninge/policyuppfoljning.bpmn")

PROPOSER = "lena.forslag@example.se"
DELTAGARE = "deltagare-jordbro@lists.example.se"
INITIATOR = "omar.invanare@example.se"
SKAL = "Busslinjernas dragning beslutas av regionen, inte av Haninge kommun."
FRAGA = "Hur ska Jordbro centrum utvecklas?"

MG = {
    f"mg_{g}": v
    for g, v in {
        "barn": "deltog",
        "unga": "deltog",
        "aldre": "saknades",
        "funktionsnedsattning": "saknades",
        "annat_modersmal": "deltog",
        "resurssvaga": "deltog",
        "boende_omradet": "deltog",
        "brukare_anhoriga": "ej_aktuell",
        "naringsliv": "deltog",
        "civilsamhalle": "deltog",
    }.items()
}

DIALOG_ANSWERS = {
    "Task_registrera_initiativ": {
        "dialogtyp": "medborgardialog",
        "initierad_av": "fortroendevald",
        "fraga": FRAGA,
        "beskrivning": "Centrumet ska byggas om; kommunstyrelsen vill höra boende och företagare.",
        "proposer_namn": "Lena Holm",
        "proposer_email": PROPOSER,
    },
    "Task_prova_paverkbarhet": {"fragan_paverkbar": True, "beslutsfattare_paverkbara": True},
    "Task_beslut_medborgardialog": {
        "beslut_starta": True,
        "beslutsinstans": "Kommunstyrelsens arbetsutskott",
        "beslutsdatum": "2026-03-10",
        "beslut_motivering": "Ombyggnaden berör alla i Jordbro.",
    },
    "Task_motivera_behov": {
        "behov_motivering": "Detaljplanearbetet behöver boendes kunskap tidigt.",
        "ansvarig_chef": "Planchef Eva Lund",
        "beslut_starta": True,
        "beslut_motivering": "Behovet är akut inför samrådet.",
    },
    "Task_beslut_brukardialog": {
        "verksamhet": "Jordbro bibliotek",
        "ansvarig_chef": "Bibliotekschef Ali Reza",
        "beslut_starta": True,
    },
    "Task_planera": {
        "syfte": "Samla boendes och företagares prioriteringar för centrum.",
        "mal": "Tre prioriterade utvecklingsområden till planprogrammet.",
        "paverkan_deltagare": "Vilka områden planprogrammet prioriterar.",
        "resultat_anvandning": "Underlag till kommunstyrelsens beslut om planprogram.",
        "aterkoppling_hur": "Mejl, haninge.se och ett återkopplingsmöte i centrum.",
        "aterkoppling_senast": "2026-12-15",
        "ansvarig_processledare": "Demokratiutvecklare Sara Nilsson",
        "ansvarig_forvaltning": "Kommunstyrelseförvaltningen",
        "malgrupper_planerade": "Boende, unga, företagare, föreningar.",
        "metod": "Workshops, Speak-appen för unga och öppet hus.",
        "metod_malgruppsanpassning": "Tolkar på arabiska och somaliska; kvällstider.",
        "inkluderande_metodik": True,
        "samordning_kontrollerad": True,
        "tidigare_dialoger": "Trygghetsdialog 2024 i samma område.",
        "budget_kr": 120000,
        "resurser": "Två processledare, en kommunikatör.",
    },
    "Task_genomfora": {
        "genomford_fran": "2026-05-05",
        "genomford_till": "2026-06-10",
        "antal_deltagare": 310,
        "paverkan_presenterad": True,
        "respekt_och_utrymme": True,
        "deltagare_epost": DELTAGARE,
        "genomforande_kommentar": "Öppet hus fick flest besökare.",
    },
    "Task_registrera_malgrupper": {
        **MG,
        "mg_ovriga": "Pendlare",
        "mg_saknade_atgarder": "Besök på träffpunkter för äldre och LSS-verksamheter nästa gång.",
    },
    "Task_dokumentera_lagra": {
        "resultat_sammanstallning": "Trygghet, mötesplatser och grönska prioriteras.",
        "dokumentation_lagringsplats": "Dialogarkivet, KS 2026/0301",
        "diarienummer": "KS 2026/0301",
        "radata_sparad": True,
        "sokord": "Jordbro, centrum, planprogram",
    },
    "Task_beslut_resultat": {
        "resultat_beslut": "Planprogrammet prioriterar trygghet och grönska.",
        "resultat_beslutsinstans": "Kommunstyrelsen",
        "resultat_beslutsdatum": "2026-10-05",
    },
    "Task_tillampa": {
        "resultat_beslut": "Biblioteket förlänger öppettiderna på lördagar.",
        "ansvarig_chef": "Bibliotekschef Ali Reza",
    },
    "Task_aterkoppla": {
        "aterkoppling_text": "Tack för era synpunkter! Här är vad kommunstyrelsen beslutade.",
        "aterkoppling_kanaler": "Mejl, haninge.se, möte i centrum",
    },
    "Task_sprida": {
        "spridd_internt": True,
        "spridd_internt_till": "Samhällsbyggnadsförvaltningen, kultur- och fritid",
        "publicerad_externt": True,
        "publicering_lank": "https://www.haninge.se/dialog/jordbro",
    },
    "Task_utvardera": {
        "eval_syfte_uppnatt": "ja",
        "eval_syfte_kommentar": "Tre tydliga prioriteringar kom fram.",
        "eval_malgrupper_nadda": "delvis",
        "eval_malgrupper_kommentar": "Äldre saknades.",
        "eval_deltagarnas_upplevelse": "Deltagarna kände sig lyssnade på.",
        "eval_deltagarnas_betyg": 4,
        "eval_paverkan": "ja",
        "eval_aterkoppling": "ja",
        "eval_kostnad_kr": 98000,
        "eval_tidsatgang_timmar": 240,
        "eval_lardomar": "Börja med de svårnådda grupperna.",
        "uppfoljning_datum": "2027-06-01",
    },
    "Task_folja_upp": {
        "uppfoljning_effekter": "Planprogrammet antogs med dialogens prioriteringar.",
        "uppfoljning_rapporterad": True,
    },
}

BESLUT_NEJ = {"beslut_starta": False, "beslut_motivering": "Frågan avgörs redan i översiktsplanen."}

DIALOG_SCENARIOS = [
    Scenario(
        "medborgardialog, förtroendevalda beslutar",
        end="EndEvent_avslutad",
        visits=("Task_beslut_medborgardialog", "Task_beslut_resultat"),
        avoids=("Task_tillampa", "Task_motivera_behov"),
        mails=("Send_aterkoppling",),
    ),
    Scenario(
        "medborgardialog initierad av tjänstemän",
        {"Task_registrera_initiativ": {"initierad_av": "tjansteman"}},
        end="EndEvent_avslutad",
        visits=("Task_motivera_behov", "Task_beslut_resultat"),
        mails=("Send_informera_fortroendevalda", "Send_aterkoppling"),
    ),
    Scenario(
        "brukardialog",
        {"Task_registrera_initiativ": {"dialogtyp": "brukardialog", "initierad_av": "tjansteman"}},
        end="EndEvent_avslutad",
        visits=("Task_beslut_brukardialog", "Task_tillampa"),
        avoids=("Task_beslut_resultat",),
        mails=("Send_aterkoppling",),
    ),
    Scenario(
        "ej påverkbar",
        {
            "Task_prova_paverkbarhet": {
                "beslutsfattare_paverkbara": False,
                "skal_ej_paverkbar": "annat",
                "skal_beskrivning": SKAL,
            }
        },
        end="EndEvent_ingen_dialog",
        mails=("Send_ingen_dialog",),
    ),
    Scenario(
        "förtroendevalda beslutar nej",
        {"Task_beslut_medborgardialog": BESLUT_NEJ},
        end="EndEvent_ej_beslut",
        avoids=("Task_planera",),
        mails=("Send_ej_beslut",),
    ),
]

KINDS = ("synpunkt", "medborgarforslag", "e_forslag", "dialoginitiativ")


def message(kind: str) -> tuple[str, dict]:
    return (
        "haninge_initiativ_mottaget",
        {
            "kind": kind,
            "initiator_email": INITIATOR,
            "initiator_namn": "Omar Ali",
            "arende_rubrik": "Fler bänkar i Rudans friluftsområde",
            "initiativ_text": "Det behövs fler bänkar längs motionsspåret för äldre.",
        },
    )


def registrera(kind: str) -> dict:
    return {
        "kind": kind,
        "arende_rubrik": "Fler bänkar i Rudans friluftsområde",
        "initiativ_text": "Det behövs fler bänkar längs motionsspåret för äldre.",
        "initiator_namn": "Omar Ali",
        "initiator_email": INITIATOR,
        "ansvarig_forvaltning": "Samhällsbyggnadsförvaltningen",
        "diarienummer": "KS 2026/0402",
    }


INTAKE_ANSWERS = {
    "Task_synpunkt": {"synpunkt_typ": "forslag", "handlaggning_resultat": "Två bänkar beställda."},
    "Task_granska_eforslag": {"eforslag_godkant": True, "handlaggning_resultat": "Följer reglerna."},
    "Task_registrera_stod": {
        "publicerat_datum": "2026-04-01",
        "antal_underskrifter": 312,
        "tillrackligt_stod": True,
        "handlaggning_resultat": "312 underskrifter, gränsen är 250.",
    },
    "Task_bereda_forslag": {
        "tjansteutlatande": "Förvaltningen föreslår bifall; bänkarna ryms i underhållsbudgeten.",
        "forslag_till_beslut": "bifall",
        "kostnad_kr": 40000,
        "beslutsinstans": "Kultur- och fritidsnämnden",
    },
    "Task_registrera_beslut": {
        "beslut": "bifall",
        "beslutsdatum": "2026-06-12",
        "paragraf": "KFN § 44",
        "handlaggning_resultat": "Bifall.",
    },
    "Task_bedoma_dialoginitiativ": {
        "dialog_lamplig": True,
        "dialogtyp": "medborgardialog",
        "handlaggning_resultat": "Passar som dialog om Rudan.",
    },
    "Task_starta_dialog": {"dialog_arende": "KS 2026/0410"},
    "Task_formulera_svar": {
        "svar_text": "Tack för ditt förslag om bänkar i Rudan. Så här har vi hanterat det."
    },
}


def intake_scenario(name, kind, overrides=None, visits=(), avoids=()):
    return Scenario(
        name,
        {"Task_registrera": registrera(kind), **(overrides or {})},
        end="EndEvent_besvarat",
        visits=visits,
        avoids=avoids,
        mails=("Send_kvitto", "Send_svar"),
        message=message(kind),
    )


INTAKE_SCENARIOS = [
    intake_scenario("synpunkt", "synpunkt", visits=("Task_synpunkt",)),
    intake_scenario(
        "medborgarförslag", "medborgarforslag", visits=("Task_bereda_forslag", "Task_registrera_beslut")
    ),
    intake_scenario(
        "e-förslag med stöd", "e_forslag", visits=("Task_registrera_stod", "Task_bereda_forslag")
    ),
    intake_scenario(
        "e-förslag utan stöd",
        "e_forslag",
        {"Task_registrera_stod": {**INTAKE_ANSWERS["Task_registrera_stod"], "tillrackligt_stod": False}},
        avoids=("Task_bereda_forslag",),
    ),
    intake_scenario(
        "e-förslag ej godkänt",
        "e_forslag",
        {
            "Task_granska_eforslag": {
                "eforslag_godkant": False,
                "handlaggning_resultat": "Kränkande innehåll.",
            }
        },
        avoids=("Task_registrera_stod",),
    ),
    intake_scenario("dialoginitiativ", "dialoginitiativ", visits=("Task_starta_dialog",)),
    intake_scenario(
        "dialoginitiativ avböjs",
        "dialoginitiativ",
        {
            "Task_bedoma_dialoginitiativ": {
                "dialog_lamplig": False,
                "handlaggning_resultat": "Redan beslutat.",
            }
        },
        avoids=("Task_starta_dialog",),
    ),
    Scenario(
        "okänd typ rättas av kontaktcenter",
        {"Task_registrera": registrera("synpunkt")},
        end="EndEvent_besvarat",
        visits=("Task_synpunkt",),
        message=message("klagomal_via_sms"),
    ),
]

POLICY_ANSWERS = {
    "Task_ange_anledning": {
        "anledning": "mandatperiod",
        "mandatperiod": "2026–2030",
        "uppfoljning_senast": "2027-03-31",
    },
    "Task_sammanstalla": {
        "antal_medborgardialoger": 7,
        "antal_brukardialoger": 23,
        "antal_arenden_oppna_kanaler": 1480,
        "aterkoppling_oppna_kanaler": "92 % fick svar inom fyra veckor.",
        "malgrupper_deltagit": "Unga, boende, föreningar.",
        "malgrupper_saknas": "Äldre, personer med funktionsnedsättning.",
        "utvarderingar_sammanfattning": "Återkopplingen har blivit bättre; äldre nås sämre.",
        "dokumentation_lagrad": True,
        "overlappande_dialoger": "Två dialoger i Jordbro samma vår.",
    },
    "Task_analysera": {
        "princip1_foljd": "ja",
        "princip2_foljd": "ja",
        "princip3_foljd": "delvis",
        "princip4_foljd": "delvis",
        "analys": "Principerna följs men inkluderingen av äldre brister.",
        "forslag_andringar": True,
        "forslag_beskrivning": "Lägg till krav på dialog med äldre.",
        "tjansteutlatande_ref": "KS 2027/0100",
    },
    "Task_ks_beslut": {
        "ks_beslut": "andras",
        "ks_beslutsdatum": "2027-04-20",
        "ks_paragraf": "KS § 61",
        "ks_beslut_text": "Policyn kompletteras med krav på dialog med äldre.",
    },
    "Task_genomfora_forandringar": {
        "andringar_genomforda": "Policyn och mallarna är uppdaterade.",
        "ny_policyversion": "2.0",
        "rutiner_uppdaterade": True,
    },
    "Task_planera_nasta": {"nasta_uppfoljning": "2031-03-31"},
}

POLICY_SCENARIOS = [
    Scenario(
        "ändras",
        end="EndEvent_uppfoljd",
        visits=("Task_genomfora_forandringar",),
        mails=("Send_informera",),
        variables={"anledning": "mandatperiod"},
    ),
    Scenario(
        "oförändrad",
        {"Task_ks_beslut": {"ks_beslut": "oforandrad", "ks_beslut_text": "Policyn gäller oförändrad."}},
        end="EndEvent_uppfoljd",
        avoids=("Task_genomfora_forandringar",),
        mails=("Send_informera",),
    ),
    Scenario(
        "förslag till fullmäktige",
        {"Task_ks_beslut": {"ks_beslut": "forslag_kf"}},
        end="EndEvent_uppfoljd",
        visits=("Task_genomfora_forandringar",),
    ),
]


# --- haninge_dialog --------------------------------------------------------------------------------------


def test_dialog_full_walk_on_both_databases(d):
    setup(d, DIALOG)
    w = run_scenario(d, DIALOG, DIALOG_ANSWERS, DIALOG_SCENARIOS[0])
    assert w.tasks == [
        "Task_registrera_initiativ",
        "Task_prova_paverkbarhet",
        "Task_beslut_medborgardialog",
        "Task_planera",
        "Task_genomfora",
        "Task_registrera_malgrupper",
        "Task_dokumentera_lagra",
        "Task_beslut_resultat",
        "Task_aterkoppla",
        "Task_sprida",
        "Task_utvardera",
        "Task_folja_upp",
    ]
    [mail] = w.mails
    assert mail["to"] == DELTAGARE and FRAGA in mail["subject"]
    assert DIALOG_ANSWERS["Task_beslut_resultat"]["resultat_beslut"] in mail["body"]
    assert w.variables["mg_aldre"] == "saknades" and w.variables["sokord"] == "Jordbro, centrum, planprogram"


@pytest.mark.slow
def test_dialog_every_gateway_branch(sqlite_d):
    setup(sqlite_d, DIALOG)
    walks = [run_scenario(sqlite_d, DIALOG, DIALOG_ANSWERS, sc) for sc in DIALOG_SCENARIOS]
    informed = walks[1].mails_from("Send_informera_fortroendevalda")
    assert [m["to"] for m in informed] == ["fortroendevald@example.se"]
    [nej] = walks[4].mails
    assert nej["to"] == PROPOSER and BESLUT_NEJ["beslut_motivering"] in nej["body"]
    assert_covers_gateways(DIALOG, walks)


def test_dialog_gate_no_records_reason_and_tells_proposer(d):
    setup(d, DIALOG)
    w = run_scenario(d, DIALOG, DIALOG_ANSWERS, DIALOG_SCENARIOS[3])
    assert w.variables["beslutsfattare_paverkbara"] is False
    assert w.variables["skal_ej_paverkbar"] == "annat" and w.variables["skal_beskrivning"] == SKAL
    [mail] = w.mails
    assert mail["to"] == PROPOSER and FRAGA in mail["subject"]
    assert SKAL in mail["body"] and "Skäl: annat" in mail["body"] and "Hej Lena Holm!" in mail["body"]


@pytest.mark.parametrize(
    "task_id", ["Task_beslut_medborgardialog", "Task_prova_paverkbarhet", "Task_beslut_resultat"]
)
def test_dialog_outsider_cannot_complete(sqlite_d, task_id):
    setup(sqlite_d, DIALOG)
    assert_forbidden_for_outsider(sqlite_d, DIALOG, DIALOG_ANSWERS, task_id)


def test_dialog_feedback_and_evaluation_required(sqlite_d):
    setup(sqlite_d, DIALOG)
    assert_refused(
        sqlite_d,
        DIALOG,
        DIALOG_ANSWERS,
        "Task_aterkoppla",
        {"aterkoppling_text": "", "aterkoppling_kanaler": ...},
        {"aterkoppling_text", "aterkoppling_kanaler"},
    )
    assert_refused(
        sqlite_d,
        DIALOG,
        DIALOG_ANSWERS,
        "Task_utvardera",
        {"eval_syfte_uppnatt": ..., "eval_lardomar": "", "eval_kostnad_kr": ..., "uppfoljning_datum": ""},
        {"eval_syfte_uppnatt", "eval_lardomar", "eval_kostnad_kr", "uppfoljning_datum"},
    )
    assert_refused(
        sqlite_d,
        DIALOG,
        DIALOG_ANSWERS,
        "Task_dokumentera_lagra",
        {"radata_sparad": False, "dokumentation_lagringsplats": ""},
        {"radata_sparad", "dokumentation_lagringsplats"},
    )


def test_dialog_no_path_to_the_end_around_feedback_or_evaluation():
    assert_cannot_skip(
        DIALOG,
        {"EndEvent_avslutad"},
        {"Task_aterkoppla"},
        {"Send_aterkoppling"},
        {"Task_utvardera"},
        {"Task_dokumentera_lagra"},
        {"Task_planera"},
    )


# --- haninge_intake ----------------------------------------------------------------------------------------


def test_intake_receipt_at_once_and_answer_on_both_databases(d):
    setup(d, INTAKE)
    [info] = d.deliver_message(*message("synpunkt"), start_business_key="KS 2026/0402")
    now = observe(d, INTAKE, info.id)
    [receipt] = now.mails
    assert receipt["element_id"] == "Send_kvitto" and receipt["to"] == INITIATOR
    assert "Fler bänkar i Rudans friluftsområde" in receipt["subject"] and "(synpunkt)" in receipt["body"]
    [task] = open_tasks(d, info.id)
    assert task.element_id == "Task_registrera" and task.candidate_groups == ["kontaktcenter"]
    w = run_scenario(d, INTAKE, INTAKE_ANSWERS, INTAKE_SCENARIOS[0], business_key="KS 2026/0403")
    answer = w.mails_from("Send_svar")[0]
    assert answer["to"] == INITIATOR and INTAKE_ANSWERS["Task_formulera_svar"]["svar_text"] in answer["body"]


@pytest.mark.slow
def test_intake_every_gateway_branch(sqlite_d):
    setup(sqlite_d, INTAKE)
    walks = [
        run_scenario(sqlite_d, INTAKE, INTAKE_ANSWERS, sc, business_key=f"KS 2026/05{n:02d}")
        for n, sc in enumerate(INTAKE_SCENARIOS)
    ]
    assert walks[-1].tasks[:2] == ["Task_registrera", "Task_synpunkt"]
    assert "(klagomal_via_sms)" in walks[-1].mails[0]["body"]  # the receipt names what came in
    assert {w.variables["kind"] for w in walks} == set(KINDS)
    assert_covers_gateways(INTAKE, walks)


@pytest.mark.parametrize("task_id", ["Task_registrera", "Task_bedoma_dialoginitiativ"])
def test_intake_outsider_cannot_complete(sqlite_d, task_id):
    setup(sqlite_d, INTAKE)
    answers = {**INTAKE_ANSWERS, "Task_registrera": registrera("dialoginitiativ")}
    assert_forbidden_for_outsider(sqlite_d, INTAKE, answers, task_id, message=message("dialoginitiativ"))


def test_intake_answer_required(sqlite_d):
    setup(sqlite_d, INTAKE)
    answers = {**INTAKE_ANSWERS, "Task_registrera": registrera("synpunkt")}
    assert_refused(
        sqlite_d,
        INTAKE,
        answers,
        "Task_formulera_svar",
        {"svar_text": " "},
        {"svar_text"},
        message=message("synpunkt"),
    )
    assert_cannot_skip(INTAKE, {"EndEvent_besvarat"}, {"Send_svar"}, {"Send_kvitto"})


# --- haninge_policyuppfoljning --------------------------------------------------------------------------


def test_policy_follow_up_on_both_databases(d):
    setup(d, POLICY)
    w = run_scenario(d, POLICY, POLICY_ANSWERS, POLICY_SCENARIOS[0])
    assert w.variables["nasta_uppfoljning"] == "2031-03-31"
    [mail] = w.mails
    assert mail["to"] == "tjansteman@example.se" and "(2026–2030)" in mail["subject"]
    assert "KS § 61" in mail["body"] and "2031-03-31" in mail["body"]


def test_policy_every_gateway_branch(sqlite_d):
    setup(sqlite_d, POLICY)
    walks = [run_scenario(sqlite_d, POLICY, POLICY_ANSWERS, sc) for sc in POLICY_SCENARIOS]
    assert_covers_gateways(POLICY, walks)


def test_policy_decision_only_by_kommunstyrelsen(sqlite_d):
    setup(sqlite_d, POLICY)
    assert_forbidden_for_outsider(sqlite_d, POLICY, POLICY_ANSWERS, "Task_ks_beslut")
    assert_refused(
        sqlite_d,
        POLICY,
        POLICY_ANSWERS,
        "Task_planera_nasta",
        {"nasta_uppfoljning": ""},
        {"nasta_uppfoljning"},
    )

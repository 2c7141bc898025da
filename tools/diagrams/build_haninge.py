"""Generate processes/haninge/*.bpmn (Haninge kommun, Policy för medborgar- och brukardialog
and its action plan). Run:  python tools/diagrams/build_haninge.py"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bpmn_writer import Diagram, F, write  # noqa: E402
from dialog_fields import JA_DELVIS_NEJ, before_start_fields, gate_fields  # noqa: E402

OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "processes", "haninge"
)

MALGRUPPER = [
    ("mg_barn", "Barn (under 13 år)"),
    ("mg_unga", "Unga (13–25 år)"),
    ("mg_aldre", "Äldre (65 år och äldre)"),
    ("mg_funktionsnedsattning", "Personer med funktionsnedsättning"),
    ("mg_annat_modersmal", "Personer med annat modersmål än svenska / nyanlända"),
    ("mg_resurssvaga", "Resurssvaga grupper / socioekonomiskt utsatta områden"),
    ("mg_boende_omradet", "Boende i berört område"),
    ("mg_brukare_anhoriga", "Brukare och anhöriga"),
    ("mg_naringsliv", "Företagare och näringsliv"),
    ("mg_civilsamhalle", "Föreningar och civilsamhälle"),
]
DELTAGANDE = [("deltog", "Deltog"), ("saknades", "Saknades"), ("ej_aktuell", "Ej aktuell för dialogen")]


# --------------------------------------------------------------------------- dialog.bpmn
def dialog():
    d = Diagram(
        "haninge_dialog",
        "Medborgar- och brukardialog",
        "Haninge kommun – medborgar- och brukardialog",
        process_doc=(
            "Policy för medborgar- och brukardialog (KF 2018-05-07, KS 2017/429). Medborgardialog: "
            "förtroendevalda beslutar att initiera och tillvaratar kunskapen. Brukardialog: "
            "tjänstemannanivån initierar och tillämpar. Tjänstemannanivån processleder båda. "
            "De fyra principerna (komplement till representativ demokrati, strukturerad, "
            "inkluderande, långsiktigt värdeskapande) är steg i processen."
        ),
    )
    FV = d.lane("Lane_fortroendevald", "Förtroendevalda")
    TJ = d.lane("Lane_tjansteman", "Tjänstemän (processledning)")

    d.start("StartEvent_initiativ", "Dialoginitiativ", TJ, 0)
    d.user(
        "Task_registrera_initiativ",
        "Registrera dialoginitiativ och välj dialogtyp",
        TJ,
        1,
        "tjansteman,fortroendevald",
        "Registrera initiativet och välj dialogtyp. Medborgardialog handlar om frågor som berör "
        "kommunen som helhet och sker primärt mellan förtroendevalda och medborgare. Brukardialog "
        "är kopplad till enskilda delar av kommunens service (t.ex. skola, förskola, vårdboende) "
        "och sker primärt mellan tjänstemän och brukare. Tjänstemän kan vid behov initiera "
        "medborgardialog.",
        [
            F(
                "dialogtyp",
                "Dialogtyp",
                "enum",
                True,
                values=[
                    ("medborgardialog", "Medborgardialog – frågor som berör kommunen som helhet"),
                    ("brukardialog", "Brukardialog – en del av kommunens service"),
                ],
            ),
            F(
                "initierad_av",
                "Initiativet kommer från",
                "enum",
                True,
                values=[("fortroendevald", "Förtroendevalda"), ("tjansteman", "Tjänstemän")],
            ),
            F("fraga", "Fråga som dialogen gäller", required=True),
            F("beskrivning", "Beskrivning av initiativet", required=True, multiline=True),
            F("proposer_namn", "Förslagsställare (namn)"),
            F("proposer_email", "Förslagsställarens e-postadress", required=True),
        ],
    )
    d.user(
        "Task_prova_paverkbarhet",
        "Pröva om frågan och beslutsfattarna är påverkbara",
        TJ,
        2,
        "tjansteman",
        "En dialog hålls bara när frågan är påverkbar och beslutsfattarna är påverkbara. Vid nej: "
        "ange skäl – förslagsställaren får besked och ingen dialog genomförs.",
        gate_fields(),
    )
    d.xgw("Gw_paverkbar", "Frågan och beslutsfattarna påverkbara?", TJ, 3)
    d.send(
        "Send_ingen_dialog",
        "Meddela förslagsställaren: ingen dialog",
        TJ,
        3,
        row=1,
        mail_to="var:proposer_email",
        subject="Ingen dialog genomförs: {{ fraga }}",
        body='Hej {{ proposer_namn }}!\n\nTack för ditt initiativ om "{{ fraga }}". '
        "Haninge kommun genomför ingen dialog i frågan eftersom frågan eller "
        "beslutsfattarna inte bedöms vara påverkbara.\n\nSkäl: {{ skal_ej_paverkbar }}\n"
        "{{ skal_beskrivning }}\n\nMed vänlig hälsning\nHaninge kommun",
    )
    d.end("EndEvent_ingen_dialog", "Ingen dialog – ej påverkbar", TJ, 3, row=2)

    d.xgw("Gw_dialogtyp", "Dialogtyp?", TJ, 4)
    d.xgw("Gw_initierad_av", "Vem initierar medborgardialogen?", TJ, 5)
    d.user(
        "Task_beslut_medborgardialog",
        "Besluta att initiera medborgardialog",
        FV,
        6,
        "fortroendevald",
        "Princip 1 – komplement till representativ demokrati: förtroendevalda ansvarar för att "
        "fatta beslut om att initiera en medborgardialog. Ange beslutsinstans och datum.",
        [
            F("beslut_starta", "Beslut: medborgardialog ska genomföras (kryssa för ja)", "boolean"),
            F("beslutsinstans", "Beslutsinstans (nämnd/utskott)", required=True),
            F("beslutsdatum", "Beslutsdatum", "date", True),
            F("beslut_motivering", "Motivering (skickas till förslagsställaren vid nej)", multiline=True),
        ],
    )
    d.user(
        "Task_motivera_behov",
        "Motivera tjänstemannainitierad medborgardialog",
        TJ,
        6,
        "tjansteman",
        "Tjänstemän kan vid behov initiera och bedriva medborgardialog. Motivera behovet; "
        "förtroendevalda informeras och beslutar fortfarande om hur resultatet tillvaratas.",
        [
            F(
                "behov_motivering",
                "Varför behöver tjänstemannanivån initiera dialogen?",
                required=True,
                multiline=True,
            ),
            F("ansvarig_chef", "Ansvarig chef", required=True),
            F("beslut_starta", "Beslut: medborgardialog ska genomföras (kryssa för ja)", "boolean"),
            F("beslut_motivering", "Motivering (skickas till förslagsställaren vid nej)", multiline=True),
        ],
    )
    d.send(
        "Send_informera_fortroendevalda",
        "Informera förtroendevalda",
        TJ,
        7,
        mail_to="role:fortroendevald",
        subject="Tjänstemän har initierat en medborgardialog: {{ fraga }}",
        body='Tjänstemannanivån har initierat en medborgardialog om "{{ fraga }}".\n\n'
        "Motivering: {{ behov_motivering }}\nAnsvarig chef: {{ ansvarig_chef }}\n\n"
        "Förtroendevalda beslutar om hur resultatet ska tillvaratas när dialogen är "
        "genomförd.",
    )
    d.user(
        "Task_beslut_brukardialog",
        "Besluta att initiera brukardialog",
        TJ,
        6,
        "tjansteman",
        "Ansvaret för att initiera brukardialog vilar primärt hos tjänstemannanivån. Ange vilken "
        "verksamhet dialogen gäller.",
        [
            F("verksamhet", "Verksamhet (t.ex. skola, förskola, vårdboende)", required=True),
            F("ansvarig_chef", "Ansvarig chef", required=True),
            F("beslut_starta", "Beslut: brukardialog ska genomföras (kryssa för ja)", "boolean"),
            F("beslut_motivering", "Motivering (skickas till förslagsställaren vid nej)", multiline=True),
        ],
        row=1,
    )
    d.xgw("Gw_merge_beslut", None, TJ, 8)
    d.xgw("Gw_beslut_starta", "Beslut att genomföra?", TJ, 9)
    d.send(
        "Send_ej_beslut",
        "Meddela förslagsställaren: beslut mot dialog",
        TJ,
        9,
        row=1,
        mail_to="var:proposer_email",
        subject="Ingen dialog genomförs: {{ fraga }}",
        body='Hej {{ proposer_namn }}!\n\nTack för ditt initiativ om "{{ fraga }}". '
        "Beslutet blev att ingen dialog genomförs.\n\nMotivering: {{ beslut_motivering }}"
        "\n\nMed vänlig hälsning\nHaninge kommun",
    )
    d.end("EndEvent_ej_beslut", "Ingen dialog – beslut", TJ, 10, row=1)

    d.user(
        "Task_planera",
        "Planera strukturerad dialog",
        TJ,
        10,
        "tjansteman",
        "Princip 2 – strukturerad dialog: tydligt syfte, tydligt ansvar och målgruppsanpassad "
        "metodik som alltid inkluderar återkoppling. Samordna med andra förvaltningar (motverka "
        "överlappande dialoger och dialogtrötthet) och sök i dialogarkivet efter tidigare "
        "dialoger i frågan.",
        before_start_fields()
        + [
            F("ansvarig_processledare", "Ansvarig processledare", required=True),
            F("ansvarig_forvaltning", "Ansvarig förvaltning/enhet", required=True),
            F("malgrupper_planerade", "Målgrupper som ska nås", required=True, multiline=True),
            F("metod", "Metod och kanaler", required=True, multiline=True),
            F(
                "metod_malgruppsanpassning",
                "Hur är metoden anpassad till målgrupperna?",
                required=True,
                multiline=True,
            ),
            F(
                "inkluderande_metodik",
                "Metodiken är utformad för ett inkluderande deltagande "
                "(tillgänglighet, språk, tid och plats)",
                "boolean",
                True,
            ),
            F(
                "samordning_kontrollerad",
                "Samordnat med andra förvaltningar – ingen överlappande dialog pågår",
                "boolean",
                True,
            ),
            F("tidigare_dialoger", "Tidigare dialoger i frågan (från dialogarkivet)", multiline=True),
            F("budget_kr", "Budget (kr)", "long", False, min=0),
            F("resurser", "Avsatta personella resurser", multiline=True),
        ],
    )
    d.annotate("Task_planera", "Princip 2: strukturerad dialog – syfte, ansvar, metod, återkoppling")
    d.user(
        "Task_genomfora",
        "Genomföra dialogen",
        TJ,
        11,
        "tjansteman",
        "Tjänstemannanivån processleder dialogen. Berätta vid start vad deltagarna kan påverka "
        "och hur de får återkoppling. I varje dialogtillfälle ska samtliga deltagande aktörer "
        "visa varandra respekt och ge varandra plats och utrymme att höras.",
        [
            F("genomford_fran", "Genomförd från", "date", True),
            F("genomford_till", "Genomförd till", "date"),
            F("antal_deltagare", "Antal deltagare", "long", True, min=0),
            F(
                "paverkan_presenterad",
                "Deltagarna fick veta vad de kan påverka och hur de får återkoppling",
                "boolean",
                True,
            ),
            F(
                "respekt_och_utrymme",
                "Samtalsregler presenterades: alla gavs plats och utrymme att höras",
                "boolean",
                True,
            ),
            F(
                "deltagare_epost",
                "E-postadress/utskickslista för återkoppling till deltagarna",
                required=True,
            ),
            F("genomforande_kommentar", "Kommentar", multiline=True),
        ],
    )
    d.user(
        "Task_registrera_malgrupper",
        "Registrera deltagande och saknade målgrupper",
        TJ,
        12,
        "tjansteman",
        "Princip 3 – inkluderande och välkomnande dialog: ange för varje målgrupp om den deltog "
        "eller saknades. Underlaget används för kommunens samlade kartläggning av vilka "
        "målgrupper som deltar och vilka som saknas.",
        [F(fid, label, "enum", True, values=DELTAGANDE) for fid, label in MALGRUPPER]
        + [
            F("mg_ovriga", "Övriga målgrupper som deltog", multiline=True),
            F(
                "mg_saknade_atgarder",
                "Hur når vi de målgrupper som saknades nästa gång?",
                required=True,
                multiline=True,
            ),
        ],
    )
    d.annotate("Task_registrera_malgrupper", "Princip 3: inkluderande – vilka deltog, vilka saknades")
    d.user(
        "Task_dokumentera_lagra",
        "Dokumentera och lagra materialet",
        TJ,
        13,
        "tjansteman",
        "Princip 4 – långsiktigt värdeskapande dialog: insamlade synpunkter, underlag och förslag "
        "till beslut dokumenteras och lagras så att andra förvaltningar kan hitta och återanvända "
        "dem. Spara insamlat material och rådata, inte bara en sammanfattning.",
        [
            F("resultat_sammanstallning", "Sammanställning av resultatet", required=True, multiline=True),
            F(
                "dokumentation_lagringsplats",
                "Var är dokumentationen lagrad? (länk, diarienummer eller plats i dialogarkivet)",
                required=True,
            ),
            F("diarienummer", "Diarienummer"),
            F("radata_sparad", "Insamlat material och rådata är sparade", "boolean", True),
            F("sokord", "Sökord/ämnesord för återanvändning", required=True),
        ],
    )
    d.annotate("Task_dokumentera_lagra", "Princip 4: dokumentera och lagra för återanvändning")
    d.xgw("Gw_dialogtyp_resultat", "Dialogtyp?", TJ, 14)
    d.user(
        "Task_beslut_resultat",
        "Besluta hur resultatet tillvaratas",
        FV,
        15,
        "fortroendevald",
        "Princip 1 – komplement till representativ demokrati: dialogen är ett underlag. "
        "Förtroendevalda tillvaratar kunskapen och fattar beslutet.",
        [
            F(
                "resultat_beslut",
                "Hur tillvaratas resultatet? (beslut/ställningstagande)",
                required=True,
                multiline=True,
            ),
            F("resultat_beslutsinstans", "Beslutsinstans", required=True),
            F("resultat_beslutsdatum", "Datum", "date", True),
        ],
    )
    d.annotate("Task_beslut_medborgardialog", "Princip 1: förtroendevalda beslutar att initiera")
    d.annotate("Task_beslut_resultat", "Princip 1: förtroendevalda beslutar – dialogen är underlag")
    d.user(
        "Task_tillampa",
        "Tillämpa kunskapen i verksamheten",
        TJ,
        15,
        "tjansteman",
        "Brukardialog: tjänstemannanivån tillämpar kunskapen. Beskriv vad som görs med resultatet.",
        [
            F("resultat_beslut", "Hur tillämpas resultatet i verksamheten?", required=True, multiline=True),
            F("ansvarig_chef", "Ansvarig chef", required=True),
        ],
    )
    d.xgw("Gw_merge_resultat", None, TJ, 16)
    d.user(
        "Task_aterkoppla",
        "Återkoppla till deltagarna",
        TJ,
        17,
        "tjansteman",
        "Princip 2 – alltid återkoppling: skriv återkopplingen om vad som kom fram och hur det "
        "används. Den skickas till deltagarna; ange även övriga kanaler (webb, möte).",
        [
            F("aterkoppling_text", "Återkoppling till deltagarna", required=True, multiline=True),
            F("aterkoppling_kanaler", "Övriga kanaler för återkopplingen", required=True),
        ],
        due="${aterkoppling_senast}",
    )
    d.send(
        "Send_aterkoppling",
        "Skicka återkoppling till deltagarna",
        TJ,
        18,
        mail_to="var:deltagare_epost",
        subject="Återkoppling från dialogen: {{ fraga }}",
        body='Tack för att du deltog i dialogen om "{{ fraga }}".\n\n{{ aterkoppling_text }}'
        "\n\nSå används resultatet: {{ resultat_beslut }}\n\nMed vänlig hälsning\n"
        "Haninge kommun",
    )
    d.user(
        "Task_sprida",
        "Sprida kunskapen internt och externt",
        TJ,
        19,
        "tjansteman",
        "Princip 4: resultatet sprids i möjligaste mån internt och externt så att kunskapen tas tillvara.",
        [
            F("spridd_internt", "Spridd internt till berörda förvaltningar", "boolean"),
            F("spridd_internt_till", "Till vilka förvaltningar/enheter?"),
            F("publicerad_externt", "Publicerad externt (webb)", "boolean"),
            F("publicering_lank", "Länk till publiceringen"),
            F("ej_spridd_skal", "Skäl om resultatet inte sprids", multiline=True),
        ],
    )
    d.user(
        "Task_utvardera",
        "Utvärdera dialogen",
        TJ,
        20,
        "tjansteman",
        "Princip 4 – utvärdering: mall enligt SKL:s Handbok i utvärdering av medborgardialog "
        "(2011): syfte, målgrupper, deltagarnas upplevelse, påverkan, återkoppling, kostnad och "
        "lärdomar.",
        [
            F("eval_syfte_uppnatt", "Uppnådde dialogen sitt syfte?", "enum", True, values=JA_DELVIS_NEJ),
            F("eval_syfte_kommentar", "Kommentar om syftet", required=True, multiline=True),
            F(
                "eval_malgrupper_nadda",
                "Nådde vi de tänkta målgrupperna?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F("eval_malgrupper_kommentar", "Kommentar om målgrupperna", multiline=True),
            F(
                "eval_deltagarnas_upplevelse",
                "Hur upplevde deltagarna dialogen?",
                required=True,
                multiline=True,
            ),
            F("eval_deltagarnas_betyg", "Deltagarnas betyg (1–5)", "long", min=1, max=5),
            F(
                "eval_fortroendevaldas_upplevelse",
                "Hur upplevde de förtroendevalda dialogen?",
                multiline=True,
            ),
            F("eval_organisationens_upplevelse", "Hur upplevde tjänstemännen dialogen?", multiline=True),
            F(
                "eval_paverkan",
                "Påverkade dialogen beslut eller verksamhet?",
                "enum",
                True,
                values=JA_DELVIS_NEJ + [("ej_klart", "Inte klart ännu")],
            ),
            F(
                "eval_aterkoppling",
                "Fick deltagarna tydlig återkoppling?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F("eval_kostnad_kr", "Kostnad (kr)", "long", True, min=0),
            F("eval_tidsatgang_timmar", "Tidsåtgång (timmar)", "long", min=0),
            F("eval_lardomar", "Vad lärde vi oss?", required=True, multiline=True),
            F("eval_forbattringar", "Vad gör vi annorlunda nästa gång?", multiline=True),
            F("uppfoljning_datum", "När följs dialogens effekter upp?", "date", True),
        ],
    )
    d.annotate("Task_utvardera", "Princip 4: utvärdera (SKL 2011) och följa upp")
    d.user(
        "Task_folja_upp",
        "Följa upp dialogens effekter",
        TJ,
        21,
        "tjansteman",
        "Princip 4 – uppföljning: följ upp vad dialogen ledde till och lämna underlag till "
        "kommunstyrelsens uppföljning av policyn.",
        [
            F("uppfoljning_effekter", "Vad ledde dialogen till?", required=True, multiline=True),
            F(
                "uppfoljning_rapporterad",
                "Underlag lämnat till kommunstyrelsens uppföljning",
                "boolean",
                True,
            ),
        ],
        due="${uppfoljning_datum}",
    )
    d.end("EndEvent_avslutad", "Dialog avslutad", TJ, 22)

    f = d.flow
    f("StartEvent_initiativ", "Task_registrera_initiativ")
    f("Task_registrera_initiativ", "Task_prova_paverkbarhet")
    f("Task_prova_paverkbarhet", "Gw_paverkbar")
    f(
        "Gw_paverkbar",
        "Gw_dialogtyp",
        "Ja",
        "${fragan_paverkbar == true && beslutsfattare_paverkbara == true}",
    )
    f("Gw_paverkbar", "Send_ingen_dialog", "Nej", default=True)
    f("Send_ingen_dialog", "EndEvent_ingen_dialog")
    f("Gw_dialogtyp", "Gw_initierad_av", "Medborgardialog", "${dialogtyp == 'medborgardialog'}")
    f("Gw_dialogtyp", "Task_beslut_brukardialog", "Brukardialog", default=True)
    f("Gw_initierad_av", "Task_motivera_behov", "Tjänstemän", "${initierad_av == 'tjansteman'}")
    f("Gw_initierad_av", "Task_beslut_medborgardialog", "Förtroendevalda", default=True)
    f("Task_motivera_behov", "Send_informera_fortroendevalda")
    f("Send_informera_fortroendevalda", "Gw_merge_beslut")
    f("Task_beslut_medborgardialog", "Gw_merge_beslut")
    f("Task_beslut_brukardialog", "Gw_merge_beslut")
    f("Gw_merge_beslut", "Gw_beslut_starta")
    f("Gw_beslut_starta", "Task_planera", "Ja", "${beslut_starta == true}")
    f("Gw_beslut_starta", "Send_ej_beslut", "Nej", default=True)
    f("Send_ej_beslut", "EndEvent_ej_beslut")
    f("Task_planera", "Task_genomfora")
    f("Task_genomfora", "Task_registrera_malgrupper")
    f("Task_registrera_malgrupper", "Task_dokumentera_lagra")
    f("Task_dokumentera_lagra", "Gw_dialogtyp_resultat")
    f("Gw_dialogtyp_resultat", "Task_beslut_resultat", "Medborgardialog", "${dialogtyp == 'medborgardialog'}")
    f("Gw_dialogtyp_resultat", "Task_tillampa", "Brukardialog", default=True)
    f("Task_beslut_resultat", "Gw_merge_resultat")
    f("Task_tillampa", "Gw_merge_resultat")
    f("Gw_merge_resultat", "Task_aterkoppla")
    f("Task_aterkoppla", "Send_aterkoppling")
    f("Send_aterkoppling", "Task_sprida")
    f("Task_sprida", "Task_utvardera")
    f("Task_utvardera", "Task_folja_upp")
    f("Task_folja_upp", "EndEvent_avslutad")
    return d


# --------------------------------------------------------------------------- intake.bpmn
def intake():
    d = Diagram(
        "haninge_intake",
        "En väg in – synpunkter, förslag och dialoginitiativ",
        "Haninge kommun – öppna kanaler, en väg in",
        process_doc=(
            "Harmonisera öppna kanaler: synpunkter, medborgarförslag, e-förslag och initiativ till "
            "dialog kommer in genom en väg in, fördelas efter typ och får tydlig handläggning och "
            "återkoppling. Startas av meddelandet haninge_initiativ_mottaget med variablerna kind, "
            "initiator_email, initiator_namn, arende_rubrik och initiativ_text."
        ),
    )
    KC = d.lane("Lane_kontaktcenter", "Kontaktcenter (en väg in)")
    HA = d.lane("Lane_handlaggare", "Handläggare på förvaltningen")
    NS = d.lane("Lane_namndsekreterare", "Nämndsekreterare (politiskt beslut)")
    DS = d.lane("Lane_demokratistrateg", "Demokratistrateg")

    d.start(
        "StartEvent_initiativ_mottaget", "Initiativ mottaget", KC, 0, message="haninge_initiativ_mottaget"
    )
    d.send(
        "Send_kvitto",
        "Skicka mottagningskvitto",
        KC,
        1,
        mail_to="var:initiator_email",
        subject="Vi har tagit emot ditt ärende: {{ arende_rubrik }}",
        body="Hej {{ initiator_namn }}!\n\nHaninge kommun har tagit emot ditt ärende "
        '({{ kind }}): "{{ arende_rubrik }}".\n\nÄrendet fördelas nu till rätt '
        "handläggare. Du får ett svar när ärendet är handlagt – för medborgarförslag och "
        "e-förslag när det politiska beslutet är fattat.\n\nMed vänlig hälsning\n"
        "Haninge kommun",
    )
    d.user(
        "Task_registrera",
        "Registrera och kontrollera ärendetyp",
        KC,
        3,
        "kontaktcenter",
        "En väg in: kontrollera att ärendet har rätt typ (synpunkt, medborgarförslag, e-förslag "
        "eller initiativ till dialog), ange ansvarig förvaltning och diarieför vid behov.",
        [
            F(
                "kind",
                "Typ av ärende",
                "enum",
                True,
                values=[
                    ("synpunkt", "Synpunkt"),
                    ("medborgarforslag", "Medborgarförslag"),
                    ("e_forslag", "E-förslag"),
                    ("dialoginitiativ", "Initiativ till dialog"),
                ],
            ),
            F("arende_rubrik", "Rubrik", required=True),
            F("initiativ_text", "Ärendet i sin helhet", required=True, multiline=True),
            F("initiator_namn", "Initiativtagare (namn)"),
            F("initiator_email", "Initiativtagarens e-postadress", required=True),
            F("ansvarig_forvaltning", "Ansvarig förvaltning", required=True),
            F("diarienummer", "Diarienummer"),
        ],
    )
    d.xgw("Gw_kind", "Typ av ärende?", KC, 4)

    d.user(
        "Task_synpunkt",
        "Handlägga synpunkt",
        HA,
        5,
        "handlaggare",
        "Utred synpunkten, vidta åtgärd vid behov och beskriv resultatet. Svaret formuleras i nästa steg.",
        [
            F(
                "synpunkt_typ",
                "Typ av synpunkt",
                "enum",
                True,
                values=[
                    ("klagomal", "Klagomål"),
                    ("forslag", "Förslag"),
                    ("berom", "Beröm"),
                    ("fraga", "Fråga"),
                ],
            ),
            F("handlaggning_resultat", "Handläggning och åtgärd", required=True, multiline=True),
        ],
    )

    d.user(
        "Task_granska_eforslag",
        "Granska e-förslag",
        KC,
        5,
        "kontaktcenter",
        "Granska e-förslaget mot riktlinjerna för e-förslag innan det publiceras för underskrifter.",
        [
            F("eforslag_godkant", "E-förslaget godkänns för publicering (kryssa för ja)", "boolean"),
            F("handlaggning_resultat", "Motivering", required=True, multiline=True),
        ],
        row=1,
    )
    d.xgw("Gw_eforslag_godkant", "Godkänt för publicering?", KC, 6, row=1)
    d.user(
        "Task_registrera_stod",
        "Publicera och registrera stöd",
        KC,
        7,
        "kontaktcenter",
        "Publicera e-förslaget och registrera stödet när insamlingstiden är slut.",
        [
            F("publicerat_datum", "Publicerat datum", "date", True),
            F("antal_underskrifter", "Antal underskrifter", "long", True, min=0),
            F("tillrackligt_stod", "Tillräckligt stöd för politisk behandling (kryssa för ja)", "boolean"),
            F("handlaggning_resultat", "Resultat av insamlingen", required=True, multiline=True),
        ],
        row=1,
    )
    d.xgw("Gw_stod", "Tillräckligt stöd?", KC, 8, row=1)

    d.xgw("Gw_merge_forslag", None, HA, 8, row=1)
    d.user(
        "Task_bereda_forslag",
        "Bereda förslaget i tjänsteutlåtande",
        HA,
        9,
        "handlaggare",
        "Bered medborgarförslaget eller e-förslaget i ett tjänsteutlåtande med förslag till "
        "beslut, inklusive kostnader.",
        [
            F("tjansteutlatande", "Tjänsteutlåtande (sammanfattning)", required=True, multiline=True),
            F(
                "forslag_till_beslut",
                "Förslag till beslut",
                "enum",
                True,
                values=[("bifall", "Bifall"), ("avslag", "Avslag"), ("besvarat", "Besvarat")],
            ),
            F("kostnad_kr", "Beräknad kostnad (kr)", "long", False, min=0),
            F("beslutsinstans", "Beslutsinstans (nämnd/kommunfullmäktige)", required=True),
        ],
        row=1,
    )
    d.user(
        "Task_registrera_beslut",
        "Registrera politiskt beslut",
        NS,
        10,
        "namndsekreterare",
        "Registrera nämndens eller fullmäktiges beslut i ärendet.",
        [
            F(
                "beslut",
                "Beslut",
                "enum",
                True,
                values=[("bifall", "Bifall"), ("avslag", "Avslag"), ("besvarat", "Besvarat")],
            ),
            F("beslutsdatum", "Beslutsdatum", "date", True),
            F("paragraf", "Paragraf", required=True),
            F("handlaggning_resultat", "Beslutet i korthet", required=True, multiline=True),
        ],
    )

    d.user(
        "Task_bedoma_dialoginitiativ",
        "Bedöma initiativ till dialog",
        DS,
        5,
        "demokratistrateg",
        "Bedöm om initiativet bör leda till en medborgar- eller brukardialog. Samordna med "
        "pågående dialoger för att undvika överlappning och dialogtrötthet.",
        [
            F("dialog_lamplig", "En dialog bör startas (kryssa för ja)", "boolean"),
            F(
                "dialogtyp",
                "Dialogtyp",
                "enum",
                False,
                values=[("medborgardialog", "Medborgardialog"), ("brukardialog", "Brukardialog")],
            ),
            F("handlaggning_resultat", "Bedömning", required=True, multiline=True),
        ],
    )
    d.xgw("Gw_dialog_lamplig", "Dialog bör startas?", DS, 6)
    d.user(
        "Task_starta_dialog",
        "Starta dialogärende",
        DS,
        7,
        "demokratistrateg",
        "Starta ett ärende i processen Medborgar- och brukardialog (haninge_dialog) och ange "
        "dess ärendenummer.",
        [
            F("dialog_arende", "Ärendenummer för dialogärendet", required=True),
        ],
    )

    d.xgw("Gw_merge_svar", None, HA, 11)
    d.user(
        "Task_formulera_svar",
        "Formulera svar till initiativtagaren",
        HA,
        12,
        "handlaggare,demokratistrateg",
        "Formulera ett tydligt svar: vad som har gjorts eller beslutats och varför.",
        [
            F("svar_text", "Svar till initiativtagaren", required=True, multiline=True),
        ],
    )
    d.send(
        "Send_svar",
        "Skicka svar",
        KC,
        13,
        mail_to="var:initiator_email",
        subject="Svar på ditt ärende: {{ arende_rubrik }}",
        body="Hej {{ initiator_namn }}!\n\n{{ svar_text }}\n\nMed vänlig hälsning\nHaninge kommun",
    )
    d.end("EndEvent_besvarat", "Ärendet besvarat", KC, 14)

    f = d.flow
    f("StartEvent_initiativ_mottaget", "Send_kvitto")
    f("Send_kvitto", "Task_registrera")
    f("Task_registrera", "Gw_kind")
    f("Gw_kind", "Task_synpunkt", "Synpunkt", "${kind == 'synpunkt'}")
    f("Gw_kind", "Gw_merge_forslag", "Medborgarförslag", "${kind == 'medborgarforslag'}")
    f("Gw_kind", "Task_granska_eforslag", "E-förslag", "${kind == 'e_forslag'}")
    f("Gw_kind", "Task_bedoma_dialoginitiativ", "Initiativ till dialog", "${kind == 'dialoginitiativ'}")
    f("Task_granska_eforslag", "Gw_eforslag_godkant")
    f("Gw_eforslag_godkant", "Task_registrera_stod", "Ja", "${eforslag_godkant == true}")
    f("Gw_eforslag_godkant", "Gw_merge_svar", "Nej", default=True, route=("channel", KC, 1, "bottom"))
    f("Task_registrera_stod", "Gw_stod")
    f("Gw_stod", "Gw_merge_forslag", "Ja", "${tillrackligt_stod == true}")
    f("Gw_stod", "Gw_merge_svar", "Nej", default=True, route="hv")
    f("Gw_merge_forslag", "Task_bereda_forslag")
    f("Task_bereda_forslag", "Task_registrera_beslut")
    f("Task_registrera_beslut", "Gw_merge_svar")
    f("Task_synpunkt", "Gw_merge_svar")
    f("Task_bedoma_dialoginitiativ", "Gw_dialog_lamplig")
    f("Gw_dialog_lamplig", "Task_starta_dialog", "Ja", "${dialog_lamplig == true}")
    f("Gw_dialog_lamplig", "Gw_merge_svar", "Nej", default=True, route=("channel", DS, 0, "bottom"))
    f("Task_starta_dialog", "Gw_merge_svar")
    f("Gw_merge_svar", "Task_formulera_svar")
    f("Task_formulera_svar", "Send_svar")
    f("Send_svar", "EndEvent_besvarat")
    return d


# --------------------------------------------------------------------------- policyuppfoljning
def policyuppfoljning():
    d = Diagram(
        "haninge_policyuppfoljning",
        "Uppföljning av policy för medborgar- och brukardialog",
        "Haninge kommun – uppföljning av policyn",
        process_doc=(
            "Kommunstyrelsen ska vid behov eller en gång per mandatperiod följa upp policyn och "
            "besluta om eventuella förändringar. Delaktigs schemaläggare startar ett ärende en "
            "gång per mandatperiod (efter de allmänna valen i september 2026, 2030, …) med "
            "anledning=mandatperiod; vid behov startas ärendet manuellt."
        ),
    )
    DS = d.lane("Lane_demokratistrateg", "Demokratistrateg (strategisk planering)")
    KS = d.lane("Lane_kommunstyrelsen", "Kommunstyrelsen (sekreterare)")

    d.start("StartEvent_uppfoljning", "Uppföljning initierad", DS, 0)
    d.user(
        "Task_ange_anledning",
        "Ange anledning och omfattning",
        DS,
        1,
        "demokratistrateg",
        "Uppföljningen görs en gång per mandatperiod eller vid behov. Ange anledning och när "
        "underlaget ska vara klart.",
        [
            F(
                "anledning",
                "Anledning",
                "enum",
                True,
                values=[("mandatperiod", "En gång per mandatperiod"), ("vid_behov", "Vid behov")],
            ),
            F("mandatperiod", "Mandatperiod (t.ex. 2026–2030)", required=True),
            F("behov_beskrivning", "Beskriv behovet (vid behov)", multiline=True),
            F("uppfoljning_senast", "Underlaget klart senast", "date", True),
        ],
    )
    d.user(
        "Task_sammanstalla",
        "Sammanställa dialogarbetet",
        DS,
        2,
        "demokratistrateg",
        "Sammanställ periodens medborgar- och brukardialoger ur Delaktig och dialogarkivet: "
        "antal, deltagande och saknade målgrupper, utvärderingar, dokumentation och öppna "
        "kanaler (en väg in).",
        [
            F("antal_medborgardialoger", "Antal medborgardialoger", "long", True, min=0),
            F("antal_brukardialoger", "Antal brukardialoger", "long", True, min=0),
            F(
                "antal_arenden_oppna_kanaler",
                "Antal ärenden i öppna kanaler (en väg in)",
                "long",
                True,
                min=0,
            ),
            F(
                "aterkoppling_oppna_kanaler",
                "Hur fungerade handläggning och återkoppling i öppna kanaler?",
                required=True,
                multiline=True,
            ),
            F("malgrupper_deltagit", "Målgrupper som deltagit", required=True, multiline=True),
            F("malgrupper_saknas", "Målgrupper som saknas", required=True, multiline=True),
            F(
                "utvarderingar_sammanfattning",
                "Sammanfattning av utvärderingarna",
                required=True,
                multiline=True,
            ),
            F(
                "dokumentation_lagrad",
                "Dokumentationen från periodens dialoger är lagrad och sökbar",
                "boolean",
            ),
            F("overlappande_dialoger", "Överlappande dialoger och dialogtrötthet", multiline=True),
        ],
    )
    d.user(
        "Task_analysera",
        "Analysera och föreslå förändringar",
        DS,
        3,
        "demokratistrateg",
        "Bedöm hur de fyra principerna har följts och föreslå eventuella förändringar av "
        "policyn i ett tjänsteutlåtande till kommunstyrelsen.",
        [
            F(
                "princip1_foljd",
                "Princip 1 – komplement till representativ demokrati följd?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F("princip2_foljd", "Princip 2 – strukturerad dialog följd?", "enum", True, values=JA_DELVIS_NEJ),
            F(
                "princip3_foljd",
                "Princip 3 – inkluderande och välkomnande dialog följd?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F(
                "princip4_foljd",
                "Princip 4 – långsiktigt värdeskapande dialog följd?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F("analys", "Analys", required=True, multiline=True),
            F("forslag_andringar", "Förändringar av policyn föreslås", "boolean"),
            F("forslag_beskrivning", "Föreslagna förändringar", multiline=True),
            F("tjansteutlatande_ref", "Tjänsteutlåtande (diarienummer)", required=True),
        ],
        due="${uppfoljning_senast}",
    )
    d.user(
        "Task_ks_beslut",
        "Registrera kommunstyrelsens beslut",
        KS,
        4,
        "kommunstyrelsen_sekreterare",
        "Kommunstyrelsen följer upp policyn och beslutar om eventuella förändringar. Policyn är "
        "antagen av kommunfullmäktige; ändringar av policyn föreslås fullmäktige.",
        [
            F(
                "ks_beslut",
                "Kommunstyrelsens beslut",
                "enum",
                True,
                values=[
                    ("oforandrad", "Policyn gäller oförändrad"),
                    ("andras", "Förändringar i arbetet beslutas"),
                    ("forslag_kf", "Förslag till kommunfullmäktige om ändrad policy"),
                ],
            ),
            F("ks_beslutsdatum", "Beslutsdatum", "date", True),
            F("ks_paragraf", "Paragraf", required=True),
            F("ks_beslut_text", "Beslutet i korthet", required=True, multiline=True),
        ],
    )
    d.xgw("Gw_forandringar", "Förändringar beslutade?", DS, 5)
    d.user(
        "Task_genomfora_forandringar",
        "Genomföra beslutade förändringar",
        DS,
        6,
        "demokratistrateg",
        "Genomför förändringarna: uppdatera riktlinjer, mallar och Delaktigs processer (ny diagramversion).",
        [
            F("andringar_genomforda", "Genomförda förändringar", required=True, multiline=True),
            F("ny_policyversion", "Ny policyversion / beslut i kommunfullmäktige"),
            F("rutiner_uppdaterade", "Rutiner, mallar och processdiagram är uppdaterade", "boolean", True),
        ],
        row=1,
    )
    d.xgw("Gw_merge_forandringar", None, DS, 7)
    d.user(
        "Task_planera_nasta",
        "Planera nästa uppföljning",
        DS,
        8,
        "demokratistrateg",
        "Ange när nästa uppföljning ska göras (senast under nästa mandatperiod; allmänna val "
        "hålls i september vart fjärde år: 2026, 2030, …).",
        [
            F("nasta_uppfoljning", "Nästa uppföljning senast", "date", True),
        ],
    )
    d.send(
        "Send_informera",
        "Informera förvaltningarna",
        DS,
        9,
        mail_to="role:tjansteman",
        subject="Uppföljning av policyn för medborgar- och brukardialog ({{ mandatperiod }})",
        body="Kommunstyrelsen har följt upp policyn för medborgar- och brukardialog.\n\n"
        "Beslut: {{ ks_beslut_text }} ({{ ks_beslutsdatum }}, {{ ks_paragraf }})\n\n"
        "Nästa uppföljning: {{ nasta_uppfoljning }}",
    )
    d.end("EndEvent_uppfoljd", "Policyn uppföljd", DS, 10)

    f = d.flow
    f("StartEvent_uppfoljning", "Task_ange_anledning")
    f("Task_ange_anledning", "Task_sammanstalla")
    f("Task_sammanstalla", "Task_analysera")
    f("Task_analysera", "Task_ks_beslut")
    f("Task_ks_beslut", "Gw_forandringar", route="mid")
    f(
        "Gw_forandringar",
        "Task_genomfora_forandringar",
        "Ja",
        "${ks_beslut == 'andras' || ks_beslut == 'forslag_kf'}",
    )
    f("Gw_forandringar", "Gw_merge_forandringar", "Nej", default=True)
    f("Task_genomfora_forandringar", "Gw_merge_forandringar")
    f("Gw_merge_forandringar", "Task_planera_nasta")
    f("Task_planera_nasta", "Send_informera")
    f("Send_informera", "EndEvent_uppfoljd")
    return d


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, fn in (
        ("dialog.bpmn", dialog),
        ("intake.bpmn", intake),
        ("policyuppfoljning.bpmn", policyuppfoljning),
    ):
        print(write(fn(), os.path.join(OUT, name)))

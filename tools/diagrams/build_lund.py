"""Generate processes/lund/dialog.bpmn (Lunds kommuns strategi för medborgardialog, KF 2016-04-28
§ 99). Run:  python tools/diagrams/build_lund.py"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bpmn_writer import Diagram, F, write  # noqa: E402
from dialog_fields import JA_DELVIS_NEJ, before_start_fields, gate_fields  # noqa: E402

OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "processes", "lund"
)

# Modell för inflytande: the five forms (combinable)
FORMER = [
    ("form_information", "Information"),
    ("form_konsultation", "Konsultation"),
    ("form_diskussion", "Diskussion"),
    ("form_larande_dialog", "Lärande dialog"),
    ("form_medskapande_medbestammande", "Medskapande och medbestämmande dialog"),
]
# The strategy's example methods and the forms it lists them under
METODER = [
    ("metod_enkat", "Enkät", "konsultation"),
    ("metod_intervju", "Intervju", "konsultation"),
    ("metod_fokusgrupp", "Fokusgrupp", "konsultation"),
    ("metod_medborgarpanel", "Medborgarpanel", "konsultation"),
    ("metod_medborgarstamma", "Medborgarstämma", "konsultation"),
    ("metod_workshop", "Workshop", "konsultation"),
    ("metod_oppet_hus", "Öppet hus", "konsultation"),
    ("metod_omradesvandring", "Områdesvandring", "konsultation, diskussion, lärande dialog"),
    ("metod_open_space", "Open space", "diskussion, lärande dialog"),
    ("metod_dialogcafe", "Dialogcafé", "diskussion, lärande dialog"),
    ("metod_ideverkstad", "Idéverkstad", "diskussion, lärande dialog"),
    ("metod_walk_and_talk", "Walk and talk", "diskussion, lärande dialog"),
    ("metod_samrad", "Samråd", "diskussion"),
    ("metod_ungdomsrad", "Ungdomsråd", "diskussion, lärande dialog"),
    ("metod_pensionarsrad", "Pensionärsråd", "diskussion, lärande dialog"),
    ("metod_arbetsgrupper", "Arbetsgrupper", "medskapande och medbestämmande dialog"),
    ("metod_medborgarbudget", "Medborgarbudget", "medskapande och medbestämmande dialog"),
    ("metod_omrostningar", "Omröstningar", "medskapande och medbestämmande dialog"),
    ("metod_radslag", "Rådslag", "medskapande och medbestämmande dialog"),
]
assert len(METODER) == 19

INFLYTANDE_DOC = (
    "Modell för inflytande – formerna kan kombineras och det finns ingen inbördes gradering:\n"
    "Information: medborgarna får information och kunskap (trycksak, utställning, webb). "
    "Information är en förutsättning för de andra formerna.\n"
    "Konsultation: medborgarna lämnar synpunkter (enkät, intervju, fokusgrupp, medborgarpanel, "
    "medborgarstämmor, workshop, öppet hus, områdesvandring).\n"
    "Diskussion: argumentera för olika infallsvinklar (open space, dialogcafé, idéverkstad, walk "
    "and talk, samråd, ungdomsråd, pensionärsråd, områdesvandring).\n"
    "Lärande dialog: lära oss mer tillsammans, ofta vid flera tillfällen (open space, dialogcafé, "
    "idéverkstad, walk and talk, områdesvandring, ungdomsråd, pensionärsråd).\n"
    "Medskapande och medbestämmande dialog: planera och genomföra tillsammans, ibland "
    "beslutsfattande (arbetsgrupper, medborgarbudget, omröstningar, rådslag).\n"
    "Digitala kanaler ska främst användas. Välj metoder som når medborgare som vanligtvis inte "
    "deltar, och ha fokus på barn och ungdomars möjlighet att delta. Inspiration: SKL:s "
    "Dialogguiden. Bestäm vad som ska göras före, under och efter dialogen."
)


def lund_skal_fields():
    """The reason fields of the gate, with Lund's extra reason (a position already taken)."""
    skal, beskrivning = gate_fields()[2:]
    skal.values = [v for v in skal.values if v[0] != "annat"] + [
        ("stallning_tagen", "Förtroendevalda har redan tagit ställning"),
        ("annat", "Annat skäl"),
    ]
    return [skal, beskrivning]


def dialog():
    d = Diagram(
        "lund_dialog",
        "Medborgardialog",
        "Lunds kommun – medborgardialog",
        process_doc=(
            "Lunds kommuns strategi för medborgardialog (KF 2016-04-28 § 99): prövning av vad "
            "medborgardialog inte är, tidigt i beslutsprocessen, modell för inflytande med "
            "metoder, påverkansmöjlighet tydlig vid start, digitala kanaler först, barn och unga, "
            "återkoppling till deltagarna. Det slutgiltiga beslutet ligger hos förtroendevalda."
        ),
    )
    FV = d.lane("Lane_fortroendevald", "Förtroendevalda")
    TP = d.lane("Lane_tjansteperson", "Tjänstepersoner")

    d.start("StartEvent_forslag", "Förslag om medborgardialog", TP, 0)
    d.user(
        "Task_registrera_forslag",
        "Registrera förslag om medborgardialog",
        TP,
        1,
        "tjansteperson,fortroendevald",
        "Medborgardialog bör genomföras när förtroendevalda och tjänstepersoner behöver få reda "
        "på vad medborgarna har för åsikter och prioriteringar. Registrera frågan och vem som "
        "föreslår dialogen.",
        [
            F("fraga", "Fråga som dialogen gäller", required=True),
            F("beskrivning", "Beskrivning", required=True, multiline=True),
            F("ansvarig_namnd", "Ansvarig nämnd", required=True),
            F("proposer_namn", "Förslagsställare (namn)"),
            F("proposer_email", "Förslagsställarens e-postadress", required=True),
        ],
    )
    d.user(
        "Task_prova_ar_medborgardialog",
        "Pröva: är det en medborgardialog?",
        TP,
        2,
        "tjansteperson",
        "Medborgardialog är inte: förankringsmöten för beslut som redan är fattade eller ska "
        "fattas; en happening för marknadsföring (event eller kampanjer); något man ska göra för "
        "att alla andra gör; information i största allmänhet. Ett ja på någon punkt betyder att "
        "det inte är en medborgardialog.\n"
        "Klassificera också dialogen: medborgardialog (alla eller specifika grupper av "
        "medborgare, organiserad, tydligt syfte), brukardialog (personer som använder kommunens "
        "service, t.ex. elever eller hemtjänst – uppföljning och förbättring) eller kunddialog "
        "(svar på frågor, felanmälan, bygglov – hanteras i ordinarie kundtjänst).",
        [
            F(
                "ar_forankring_av_fattat_beslut",
                "Förankringsmöte för beslut som redan är fattade eller ska fattas",
                "boolean",
            ),
            F("ar_marknadsforing", "En happening för marknadsföring (event eller kampanj)", "boolean"),
            F("gors_for_att_andra_gor", "Något vi gör för att alla andra gör", "boolean"),
            F("ar_allman_information", "Information i största allmänhet", "boolean"),
            F(
                "dialogtyp",
                "Typ av dialog",
                "enum",
                True,
                values=[
                    ("medborgardialog", "Medborgardialog"),
                    ("brukardialog", "Brukardialog"),
                    ("kunddialog", "Kunddialog"),
                ],
            ),
            F(
                "provning_motivering",
                "Motivering (skickas till förslagsställaren vid nej)",
                required=True,
                multiline=True,
            ),
        ],
    )
    d.xgw("Gw_inte_medborgardialog", "Något av det medborgardialog inte är?", TP, 3)
    d.send(
        "Send_inte_medborgardialog",
        "Meddela förslagsställaren: inte en medborgardialog",
        TP,
        3,
        row=1,
        mail_to="var:proposer_email",
        subject="Ditt förslag är inte en medborgardialog: {{ fraga }}",
        body='Hej {{ proposer_namn }}!\n\nFörslaget "{{ fraga }}" bedöms inte vara en '
        "medborgardialog enligt Lunds kommuns strategi. Medborgardialog är inte "
        "förankringsmöten för redan fattade beslut, marknadsföring, något man gör för att "
        "alla andra gör eller information i största allmänhet.\n\n"
        "Motivering: {{ provning_motivering }}\n\nMed vänlig hälsning\nLunds kommun",
    )
    d.end("EndEvent_inte_medborgardialog", "Inte en medborgardialog", TP, 3, row=2)
    d.xgw("Gw_dialogtyp", "Dialogtyp?", TP, 4)
    d.send(
        "Send_kunddialog",
        "Hänvisa till ordinarie kundhantering",
        TP,
        4,
        row=1,
        mail_to="var:proposer_email",
        subject="Ditt ärende hanteras som kundärende: {{ fraga }}",
        body='Hej {{ proposer_namn }}!\n\n"{{ fraga }}" gäller kommunens service till '
        "enskilda (t.ex. frågor, felanmälan eller bygglov) och hanteras i den ordinarie "
        "kundhanteringen, inte som medborgardialog.\n\nMotivering: "
        "{{ provning_motivering }}\n\nMed vänlig hälsning\nLunds kommun",
    )
    d.end("EndEvent_kunddialog", "Kunddialog – hänvisad", TP, 4, row=2)

    d.user(
        "Task_prova_paverkbarhet",
        "Pröva påverkbarhet och skede i beslutsprocessen",
        FV,
        5,
        "fortroendevald",
        "Vid förslag som direkt berör medborgarna och där förtroendevalda ännu inte har tagit "
        "ställning bör medborgardialog alltid övervägas; dialogen bör genomföras så tidigt som "
        "möjligt i beslutsprocessen. Dialog hålls bara om frågan och beslutsfattarna är "
        "påverkbara och förtroendevalda ännu inte har tagit ställning.",
        gate_fields()[:2]
        + [
            F("ej_tagit_stallning", "Förtroendevalda har ännu inte tagit ställning i frågan", "boolean"),
            F(
                "beslutsprocess_skede",
                "Var i beslutsprocessen befinner sig frågan?",
                required=True,
                multiline=True,
            ),
            F("planerat_beslut_datum", "När planeras beslut?", "date"),
        ]
        + lund_skal_fields(),
    )
    d.xgw("Gw_paverkbar", "Påverkbar och tidigt skede?", FV, 6)
    d.send(
        "Send_ingen_dialog",
        "Meddela förslagsställaren: ingen dialog",
        TP,
        6,
        mail_to="var:proposer_email",
        subject="Ingen medborgardialog: {{ fraga }}",
        body="Hej {{ proposer_namn }}!\n\nLunds kommun genomför ingen medborgardialog om "
        '"{{ fraga }}". En medborgardialog hålls bara när frågan och beslutsfattarna '
        "är påverkbara och förtroendevalda ännu inte har tagit ställning.\n\n"
        "Skäl: {{ skal_ej_paverkbar }}\n{{ skal_beskrivning }}\n"
        "Frågans skede i beslutsprocessen: {{ beslutsprocess_skede }}\n\n"
        "Med vänlig hälsning\nLunds kommun",
    )
    d.end("EndEvent_ingen_dialog", "Ingen dialog", TP, 6, row=1)

    d.xgw("Gw_merge_planera", None, TP, 7)
    d.user(
        "Task_planera",
        "Planera: syfte, inflytande och metod",
        TP,
        8,
        "tjansteperson",
        INFLYTANDE_DOC,
        before_start_fields()
        + [
            F("malgrupper", "Målgrupper", required=True, multiline=True),
            F(
                "ovana_deltagare",
                "Hur når vi medborgare som vanligtvis inte deltar?",
                required=True,
                multiline=True,
            ),
            F("barn_unga_plan", "Hur får barn och unga möjlighet att delta?", required=True, multiline=True),
            F(
                "digitala_kanaler_plan",
                "Vilka digitala kanaler används (eller varför inte)?",
                required=True,
                multiline=True,
            ),
            F(
                "medverkande_roller",
                "Förtroendevaldas och tjänstepersoners medverkan",
                required=True,
                multiline=True,
            ),
        ]
        + [F(fid, "Inflytandeform: " + label, "boolean") for fid, label in FORMER]
        + [
            F(fid, f"{label} ({forms})", "boolean", props={"inflytandeform": forms})
            for fid, label, forms in METODER
        ]
        + [F("metod_ovriga", "Andra metoder (t.ex. trycksak, utställning, webb)")],
    )
    d.xgw("Gw_former_valda", "Minst en inflytandeform vald?", TP, 9)
    d.user(
        "Task_genomfora",
        "Genomföra dialogaktiviteterna",
        TP,
        10,
        "tjansteperson",
        "Medborgarnas möjlighet att påverka ska tydligt framgå vid starten av varje "
        "medborgardialog. Digitala kanaler ska främst användas. Registrera barns och ungas "
        "deltagande för varje dialog.",
        [
            F(
                "paverkan_presenterad_vid_start",
                "Deltagarnas möjlighet att påverka presenterades vid starten",
                "boolean",
                True,
            ),
            F("genomford_fran", "Genomförd från", "date", True),
            F("genomford_till", "Genomförd till", "date"),
            F("antal_deltagare", "Antal deltagare", "long", True, min=0),
            F(
                "digitala_kanaler",
                "Digitala kanaler som användes – eller varför inte",
                required=True,
                multiline=True,
            ),
            F(
                "barn_unga_deltagande",
                "Barns och ungas deltagande",
                "enum",
                True,
                values=[
                    ("deltog", "Barn och unga deltog"),
                    ("erbjods_deltog_ej", "Erbjöds men deltog inte"),
                    ("ej_berord", "Frågan berör inte barn och unga (motiverat)"),
                ],
            ),
            F("barn_unga_antal", "Antal deltagande barn och unga", "long", True, min=0),
            F("barn_unga_kommentar", "Kommentar om barns och ungas deltagande", multiline=True),
            F(
                "deltagare_epost",
                "E-postadress/utskickslista för återkoppling till deltagarna",
                required=True,
            ),
        ],
    )
    d.user(
        "Task_dokumentera",
        "Dokumentera och sammanställa resultatet",
        TP,
        11,
        "tjansteperson",
        "Sammanställ vad som kom fram och lagra dokumentationen.",
        [
            F("resultat_sammanstallning", "Sammanställning av resultatet", required=True, multiline=True),
            F("dokumentation_lagringsplats", "Var är dokumentationen lagrad?", required=True),
        ],
    )
    d.user(
        "Task_ta_emot_resultat",
        "Ta emot resultatet som beslutsunderlag",
        FV,
        12,
        "fortroendevald",
        "Medborgardialogen behöver inte avslutas i samförstånd. Det slutgiltiga ansvaret och "
        "beslutsfattandet ligger alltid hos förtroendevalda som har ett ansvar för helheten och "
        "de politiska avvägningarna.",
        [
            F("resultat_anvands", "Hur tas resultatet om hand i beslutet?", required=True, multiline=True),
            F("beslutsinstans", "Beslutsinstans", required=True),
        ],
    )
    d.user(
        "Task_aterkoppla",
        "Återkoppla resultatet till deltagarna",
        TP,
        13,
        "tjansteperson",
        "Resultatet ska återkopplas till medborgarna som har deltagit. Skriv återkopplingen – den "
        "skickas till deltagarna i nästa steg.",
        [
            F("aterkoppling_text", "Återkoppling till deltagarna", required=True, multiline=True),
            F("aterkoppling_kanaler", "Övriga kanaler för återkopplingen", required=True),
        ],
        due="${aterkoppling_senast}",
    )
    d.send(
        "Send_aterkoppling",
        "Skicka återkoppling till deltagarna",
        TP,
        14,
        mail_to="var:deltagare_epost",
        subject="Återkoppling från medborgardialogen: {{ fraga }}",
        body='Tack för att du deltog i Lunds kommuns medborgardialog om "{{ fraga }}".\n\n'
        "{{ aterkoppling_text }}\n\nSå tas resultatet om hand: {{ resultat_anvands }}\n\n"
        "Med vänlig hälsning\nLunds kommun",
    )
    d.user(
        "Task_utvardera",
        "Utvärdera dialogen",
        TP,
        15,
        "tjansteperson",
        "Utvärdera dialogen mot syftet och strategins inriktning.",
        [
            F("eval_syfte_uppnatt", "Uppnådde dialogen sitt syfte?", "enum", True, values=JA_DELVIS_NEJ),
            F(
                "eval_nadde_ovana",
                "Nådde vi medborgare som vanligtvis inte deltar?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F(
                "eval_barn_unga",
                "Fick barn och unga möjlighet att delta?",
                "enum",
                True,
                values=JA_DELVIS_NEJ,
            ),
            F("eval_digitala_kanaler", "Hur fungerade de digitala kanalerna?", multiline=True),
            F(
                "eval_deltagarnas_upplevelse",
                "Hur upplevde deltagarna dialogen?",
                required=True,
                multiline=True,
            ),
            F("eval_lardomar", "Lärdomar", required=True, multiline=True),
        ],
    )
    d.end("EndEvent_genomford", "Medborgardialog genomförd", TP, 16)

    forms_any = "${" + " || ".join(f"{fid} == true" for fid, _ in FORMER) + "}"
    f = d.flow
    f("StartEvent_forslag", "Task_registrera_forslag")
    f("Task_registrera_forslag", "Task_prova_ar_medborgardialog")
    f("Task_prova_ar_medborgardialog", "Gw_inte_medborgardialog")
    f(
        "Gw_inte_medborgardialog",
        "Send_inte_medborgardialog",
        "Ja",
        "${ar_forankring_av_fattat_beslut == true || ar_marknadsforing == true || "
        "gors_for_att_andra_gor == true || ar_allman_information == true}",
    )
    f("Gw_inte_medborgardialog", "Gw_dialogtyp", "Nej", default=True)
    f("Send_inte_medborgardialog", "EndEvent_inte_medborgardialog")
    f("Gw_dialogtyp", "Send_kunddialog", "Kunddialog", "${dialogtyp == 'kunddialog'}")
    f("Gw_dialogtyp", "Task_prova_paverkbarhet", "Medborgar- eller brukardialog", default=True)
    f("Send_kunddialog", "EndEvent_kunddialog")
    f("Task_prova_paverkbarhet", "Gw_paverkbar")
    f(
        "Gw_paverkbar",
        "Gw_merge_planera",
        "Ja",
        "${fragan_paverkbar == true && beslutsfattare_paverkbara == true && ej_tagit_stallning == true}",
        route="hv",
    )
    f("Gw_paverkbar", "Send_ingen_dialog", "Nej", default=True)
    f("Send_ingen_dialog", "EndEvent_ingen_dialog")
    f("Gw_merge_planera", "Task_planera")
    f("Task_planera", "Gw_former_valda")
    f("Gw_former_valda", "Task_genomfora", "Ja", forms_any)
    f("Gw_former_valda", "Gw_merge_planera", "Nej", default=True, route="below")
    f("Task_genomfora", "Task_dokumentera")
    f("Task_dokumentera", "Task_ta_emot_resultat")
    f("Task_ta_emot_resultat", "Task_aterkoppla")
    f("Task_aterkoppla", "Send_aterkoppling")
    f("Send_aterkoppling", "Task_utvardera")
    f("Task_utvardera", "EndEvent_genomford")
    return d


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    print(write(dialog(), os.path.join(OUT, "dialog.bpmn")))

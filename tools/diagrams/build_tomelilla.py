"""Generate processes/tomelilla/dialog.bpmn (Tomelilla kommun, Strategi för medborgardialog,
KF 2022-05-16 § 38). Run:  python tools/diagrams/build_tomelilla.py"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bpmn_writer import Diagram, F, write  # noqa: E402
from dialog_fields import before_start_fields, gate_fields  # noqa: E402

OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "processes", "tomelilla"
)

ANSVAR = {"tjansteperson": "tjänsteperson", "fortroendevald": "förtroendevald", "bada": "båda"}

# The checklist of section 5, in the document's order: (phase, field id, item, responsible).
# The strategy asks that responsibility be set per activity ("Tjänstepersoner, förtroendevalda
# eller båda"); the values below are Delaktig's defaults.
CHECKLIST = [
    ("beslut", "chk_beslut_paverkbarhet", "Definiera frågans påverkbarhet", "bada"),
    ("beslut", "chk_beslut_mal_syfte", "Bestäm mål och syfte", "fortroendevald"),
    (
        "planering",
        "chk_planering_fragestallningar",
        "Utarbeta frågeställningar som svarar mot mål",
        "tjansteperson",
    ),
    ("planering", "chk_planering_malgruppsanalys", "Gör målgruppsanalys", "tjansteperson"),
    (
        "planering",
        "chk_planering_grad_av_inflytande",
        "Bestäm deltagarnas grad av inflytande",
        "fortroendevald",
    ),
    ("planering", "chk_planering_metod", "Välj metod", "tjansteperson"),
    ("planering", "chk_planering_budget", "Besluta och beräkna budget", "bada"),
    (
        "planering",
        "chk_planering_tidslinje",
        "Utforma tidslinje med aktiviteter som ska genomföras",
        "tjansteperson",
    ),
    ("planering", "chk_planering_ansvariga", "Utse ansvariga för varje aktivitet", "bada"),
    ("planering", "chk_planering_kommunikationsplan", "Upprätta kommunikationsplan", "tjansteperson"),
    ("planering", "chk_planering_dokumentationsform", "Hitta form för dokumentation", "tjansteperson"),
    (
        "planering",
        "chk_planering_uppfoljning_utvardering",
        "Utforma strategi för uppföljning och utvärdering",
        "tjansteperson",
    ),
    (
        "genomforande",
        "chk_genomforande_bjud_in_malgrupper",
        "Sök upp och bjud in målgrupper",
        "tjansteperson",
    ),
    (
        "genomforande",
        "chk_genomforande_checklista_avstamd",
        "Upprätta och stäm av checklista och dialogen",
        "tjansteperson",
    ),
    (
        "genomforande",
        "chk_genomforande_anpassa_sammankomster",
        "Anpassa sammankomster utifrån deltagarnas förutsättningar och villkor",
        "tjansteperson",
    ),
    (
        "genomforande",
        "chk_genomforande_dokumentera_material",
        "Dokumentera och samla in material",
        "tjansteperson",
    ),
    ("resultat", "chk_resultat_sammanstall_analysera", "Sammanställ och analysera resultat", "tjansteperson"),
    (
        "resultat",
        "chk_resultat_presentera_analys",
        "Presentera analys i lämplig form (t.ex. rapporter, filmer)",
        "tjansteperson",
    ),
    (
        "resultat",
        "chk_resultat_aterkoppla",
        "Återkoppla resultat till ansvariga handläggare och politiker, deltagare och övriga medborgare",
        "bada",
    ),
    (
        "resultat",
        "chk_resultat_utvardera_lardomar",
        "Utvärdera dialogen och identifiera lärdomar som kan utveckla det fortsatta arbetet",
        "bada",
    ),
]
assert len(CHECKLIST) == 20


def chk(phase):
    return [
        F(
            fid,
            f"{item} (ansvar: {ANSVAR[resp]})",
            "boolean",
            True,
            props={"responsible": resp, "checklist_phase": phase},
        )
        for ph, fid, item, resp in CHECKLIST
        if ph == phase
    ]


def checklist_doc(phase):
    return "\n".join(f"– {item} (ansvar: {ANSVAR[resp]})" for ph, _, item, resp in CHECKLIST if ph == phase)


STEG = [
    ("information", "Information – informera om t.ex. öppettider, vallokalers placering, ansökningstider"),
    ("konsultation", "Konsultation – inhämta synpunkter, t.ex. enkäter, fokusgrupper, trygghetsvandringar"),
    ("dialog", "Dialog – utbyta åsikter i ett tidigt skede, t.ex. fysiska möten, digital chatt"),
    (
        "inflytande",
        "Inflytande – samarbete där medborgarna identifierar behov och väljer lösningar, t.ex. ungdomsrådet",
    ),
    (
        "medbeslutande",
        "Medbeslutande – medborgarna tar över beslutsbefogenheter, t.ex. byalag, försköningsbidraget",
    ),
]

STEG_DOC = (
    "Vid varje dialog måste kommunen bestämma sig för var på delaktighetstrappan man är. Vad vill "
    "vi med medborgardialogen?\n"
    "Information: informera om t.ex. öppettider, vallokalers placering, tider då ansökan ska "
    "lämnas – via hemsidan, sociala medier, direktutskick, appar, annonsering eller på plats.\n"
    "Konsultation: inhämta synpunkter i en bestämd fråga före beslut – t.ex. enkäter, "
    "fokusgrupper, trygghetsvandringar; även att ta emot och behandla synpunkter och klagomål.\n"
    "Dialog: medborgarna träffar förtroendevalda, tjänstepersoner och varandra och utbyter "
    "åsikter i ett tidigt skede – t.ex. om trygghet, framtidens skola, inför ett program; "
    "allmänna inbjudningar till fysiska möten eller digital chatt. Tomelilla kommuns "
    "medborgardialog sker i första hand på detta steg.\n"
    "Inflytande: samarbete där medborgarna identifierar behov, utvecklar alternativ och väljer "
    "lösningar – t.ex. representanter från näringsliv och föreningsliv vid utdelning av "
    "visionsmedel, eller ungdomsrådet.\n"
    "Medbeslutande: medborgarna tar över beslutsbefogenheter – t.ex. byalag som beslutar om "
    "kommunal mark eller försköningsbidraget; pensionärsråd, föreningsråd, tillgänglighetsråd, "
    "ungdomsråd som beslutar hur medel ska satsas.\n"
    "Flera sorters delaktighet kan behövas i samma fråga – först en dialog i ett tidigt skede, "
    "senare en konsultation för att välja mellan förslag. Fastställ också i förväg rollerna för "
    "förtroendevalda och tjänstepersoner: samtliga förtroendevalda som deltar representerar "
    "kommunen och inte sitt parti."
)


def dialog():
    d = Diagram(
        "tomelilla_dialog",
        "Medborgardialog",
        "Tomelilla kommun – medborgardialog",
        process_doc=(
            "Strategi för medborgardialog i Tomelilla kommun (KF 2022-05-16 § 38, Ks 2021/214). "
            "Påverkbarhetsprövning, delaktighetstrappan och checklistans fyra faser: beslut om "
            "dialog, planering, genomförande och resultat. Flera sorters delaktighet kan följa "
            "på varandra i samma fråga."
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
        "Registrera frågan och vem som föreslår dialogen. Det måste finnas ett tydligt syfte med "
        "varje dialog; både kommunen och medborgarna måste veta vad dialogen ska användas till.",
        [
            F("fraga", "Fråga som dialogen gäller", required=True),
            F("beskrivning", "Beskrivning", required=True, multiline=True),
            F("ansvarig_namnd", "Ansvarig nämnd", required=True),
            F("proposer_namn", "Förslagsställare (namn)"),
            F("proposer_email", "Förslagsställarens e-postadress", required=True),
        ],
    )
    d.user(
        "Task_definiera_paverkbarhet",
        "Beslut om dialog: definiera frågans påverkbarhet",
        FV,
        2,
        "fortroendevald",
        "Checklista – Beslut om dialog. Inför varje medborgardialog: Är frågan påverkansbar? Är "
        "vi påverkansbara? Är svaret nej på någon av frågorna genomförs ingen medborgardialog. "
        "Ett nej kan bero på att frågan är lagstyrd, starkt värderingsstyrd (de förtroendevalda "
        "är inte påverkansbara) eller så tidsstyrd att det inte finns utrymme för dialog.\n"
        + checklist_doc("beslut").split("\n")[0],
        [f for f in chk("beslut") if f.id == "chk_beslut_paverkbarhet"] + gate_fields(),
    )
    d.xgw("Gw_paverkbar", "Frågan och beslutsfattarna påverkbara?", FV, 3)
    d.send(
        "Send_ingen_dialog",
        "Meddela förslagsställaren: ingen dialog",
        TP,
        3,
        mail_to="var:proposer_email",
        subject="Ingen medborgardialog: {{ fraga }}",
        body="Hej {{ proposer_namn }}!\n\nTomelilla kommun genomför ingen medborgardialog om "
        '"{{ fraga }}".\n\nSkäl: {{ skal_ej_paverkbar }}\n{{ skal_beskrivning }}\n\n'
        "Med vänlig hälsning\nTomelilla kommun",
    )
    d.end("EndEvent_ingen_dialog", "Ingen dialog", TP, 4)
    d.user(
        "Task_mal_syfte",
        "Beslut om dialog: bestäm mål och syfte",
        FV,
        4,
        "fortroendevald",
        "Checklista – Beslut om dialog. Kommunen måste internt ha bestämt sig för vad resultatet "
        "av medborgardialogen ska användas till innan den genomförs. När medborgare bjuds in ska "
        "vi vara snarast övertydliga med vad vi bjuder in till.\n" + checklist_doc("beslut").split("\n")[1],
        [f for f in chk("beslut") if f.id == "chk_beslut_mal_syfte"]
        + [
            F("syfte", "Syfte med dialogen", required=True, multiline=True),
            F("mal", "Mål med dialogen", required=True, multiline=True),
            F("resultat_anvandning", "Vad ska resultatet användas till?", required=True, multiline=True),
        ],
    )
    d.xgw("Gw_merge_steg", None, FV, 5)
    d.user(
        "Task_valj_steg",
        "Välj steg på delaktighetstrappan och fastställ roller",
        FV,
        6,
        "fortroendevald",
        STEG_DOC,
        [
            F("delaktighetssteg", "Steg på delaktighetstrappan", "enum", True, values=STEG),
            F(
                "delaktighetssteg_motivering",
                "Vad vill vi med medborgardialogen? (motivering)",
                required=True,
                multiline=True,
            ),
            F("roller_fortroendevalda", "Förtroendevaldas roller i dialogen", required=True, multiline=True),
            F("roller_tjanstepersoner", "Tjänstepersoners roller i dialogen", required=True, multiline=True),
            F(
                "fortroendevalda_representerar_kommunen",
                "Deltagande förtroendevalda representerar kommunen och inte sitt parti – klargjort för alla",
                "boolean",
                True,
            ),
        ],
    )
    d.user(
        "Task_planering",
        "Planering",
        TP,
        7,
        "tjansteperson",
        "Checklista – Planering. Varje punkt bockas av när den är gjord; ansvarig anges vid "
        "punkten. I varje medborgardialog krävs ekonomiska resurser, personella resurser och "
        "relevant kompetens.\n" + checklist_doc("planering"),
        chk("planering")
        + [
            F("fragestallningar", "Frågeställningar", required=True, multiline=True),
            F("malgrupper", "Målgrupper (målgruppsanalys)", required=True, multiline=True),
            F("metod", "Metod", required=True, multiline=True),
            F("budget_kr", "Budget (kr)", "long", True, min=0),
            F("tidslinje", "Tidslinje med aktiviteter och ansvariga", required=True, multiline=True),
            F("kommunikationsplan", "Kommunikationsplan", required=True, multiline=True),
            F("dokumentationsform", "Form för dokumentation", required=True),
            F(
                "resurser_sakrade",
                "Ekonomiska och personella resurser samt relevant kompetens är säkrade",
                "boolean",
                True,
            ),
        ]
        + [
            f
            for f in before_start_fields()
            if f.id in ("paverkan_deltagare", "aterkoppling_hur", "aterkoppling_senast")
        ],
    )
    d.user(
        "Task_genomforande",
        "Genomförande",
        TP,
        8,
        "tjansteperson",
        "Checklista – Genomförande. Vi bjuder in medborgarna tidigt, har ett öppet förhållningssätt "
        "och låter alla som vill komma till tals. Debatt undviks; vi lyssnar på varandra.\n"
        + checklist_doc("genomforande"),
        chk("genomforande")
        + [
            F("genomford_fran", "Genomförd från", "date", True),
            F("genomford_till", "Genomförd till", "date"),
            F("antal_deltagare", "Antal deltagare", "long", True, min=0),
            F(
                "deltagare_epost",
                "E-postadress/utskickslista för återkoppling till deltagarna",
                required=True,
            ),
            F("material_lagringsplats", "Var finns insamlat material?", required=True),
        ],
    )
    d.user(
        "Task_resultat",
        "Resultat",
        TP,
        9,
        "tjansteperson",
        "Checklista – Resultat. Sammanställ, analysera och presentera resultatet, återkoppla och "
        "utvärdera. Återkopplingen till deltagarna och till förtroendevalda skickas i nästa steg "
        "med texten nedan.\n" + checklist_doc("resultat"),
        chk("resultat")
        + [
            F(
                "resultat_sammanstallning",
                "Sammanställning och analys av resultatet",
                required=True,
                multiline=True,
            ),
            F("presentation_form", "Presentationsform (rapport, film …) och länk", required=True),
            F("dokumentation_lagringsplats", "Var är dokumentationen lagrad?", required=True),
            F(
                "aterkoppling_text",
                "Återkoppling till deltagarna och övriga medborgare",
                required=True,
                multiline=True,
            ),
            F("utvardering", "Utvärdering av dialogen", required=True, multiline=True),
            F("lardomar", "Lärdomar som kan utveckla det fortsatta arbetet", required=True, multiline=True),
        ],
        due="${aterkoppling_senast}",
    )
    d.send(
        "Send_aterkoppling_deltagare",
        "Återkoppla resultat till deltagarna",
        TP,
        10,
        mail_to="var:deltagare_epost",
        subject="Återkoppling från medborgardialogen: {{ fraga }}",
        body='Tack för att du deltog i Tomelilla kommuns medborgardialog om "{{ fraga }}".\n\n'
        "{{ aterkoppling_text }}\n\nResultatet: {{ presentation_form }}\n\n"
        "Med vänlig hälsning\nTomelilla kommun",
    )
    d.send(
        "Send_resultat_politiker",
        "Återkoppla resultat till förtroendevalda",
        TP,
        11,
        mail_to="role:fortroendevald",
        subject="Resultat av medborgardialog: {{ fraga }}",
        body='Medborgardialogen om "{{ fraga }}" ({{ delaktighetssteg }}) är genomförd.\n\n'
        "{{ resultat_sammanstallning }}\n\nLärdomar: {{ lardomar }}\n\n"
        "Dokumentation: {{ dokumentation_lagringsplats }}",
    )
    d.user(
        "Task_ta_emot_resultat",
        "Ta emot resultatet som beslutsunderlag",
        FV,
        12,
        "fortroendevald",
        "Medborgardialogen ger fler infallsvinklar och bättre underlag för de beslut som de "
        "förtroendevalda ska fatta. Ange hur resultatet används och om ytterligare en form av "
        "delaktighet behövs i samma fråga (t.ex. först dialog, sedan konsultation för att välja "
        "mellan förslag).",
        [
            F("resultat_anvands", "Hur används resultatet i beslutet?", required=True, multiline=True),
            F(
                "ny_delaktighetsform",
                "Ytterligare en form av delaktighet behövs i samma fråga (kryssa för ja)",
                "boolean",
            ),
        ],
    )
    d.xgw("Gw_ny_form", "Ny delaktighetsform?", FV, 13)
    d.script(
        "Script_nollstall_checklista",
        "Nollställ checklistan för ny delaktighetsform",
        FV,
        13,
        "\n".join(f"{fid} = False" for ph, fid, _, _ in CHECKLIST if ph != "beslut"),
        row=1,
        doc="En ny form av delaktighet i samma fråga planeras, genomförs och redovisas med egen "
        "checklista: punkterna för planering, genomförande och resultat bockas av på nytt.",
    )
    d.end("EndEvent_genomford", "Medborgardialog genomförd", FV, 14)

    f = d.flow
    f("StartEvent_forslag", "Task_registrera_forslag")
    f("Task_registrera_forslag", "Task_definiera_paverkbarhet")
    f("Task_definiera_paverkbarhet", "Gw_paverkbar")
    f(
        "Gw_paverkbar",
        "Task_mal_syfte",
        "Ja",
        "${fragan_paverkbar == true && beslutsfattare_paverkbara == true}",
    )
    f("Gw_paverkbar", "Send_ingen_dialog", "Nej", default=True)
    f("Send_ingen_dialog", "EndEvent_ingen_dialog")
    f("Task_mal_syfte", "Gw_merge_steg")
    f("Gw_merge_steg", "Task_valj_steg")
    f("Task_valj_steg", "Task_planering")
    f("Task_planering", "Task_genomforande")
    f("Task_genomforande", "Task_resultat")
    f("Task_resultat", "Send_aterkoppling_deltagare")
    f("Send_aterkoppling_deltagare", "Send_resultat_politiker")
    f("Send_resultat_politiker", "Task_ta_emot_resultat")
    f("Task_ta_emot_resultat", "Gw_ny_form")
    f("Gw_ny_form", "Script_nollstall_checklista", "Ja", "${ny_delaktighetsform == true}")
    f("Script_nollstall_checklista", "Gw_merge_steg", route="below")
    f("Gw_ny_form", "EndEvent_genomford", "Nej", default=True)
    return d


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    print(write(dialog(), os.path.join(OUT, "dialog.bpmn")))

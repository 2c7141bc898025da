"""From webhook to answer e-mail: the fixture routine and the Hässelby-Vällingby external initiative."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from engine import initiatives
from engine.initiative_models import Initiative
from engine.models import UserTask
from tests.intake.conftest import signed, status_token

ROOT = Path(__file__).resolve().parents[2]
HV = ROOT / "processes" / "hasselby-vallingby" / "extern_initiativ.bpmn"


def post(client, body: dict, key: str):
    raw = json.dumps(body).encode()
    return client.request("POST", "/webhooks/initiatives", raw, signed(raw, key=key))


def task(d, case_id: str, element_id: str) -> str:
    with d.session() as s:
        found = s.execute(
            sa.select(UserTask.id).where(
                UserTask.case_id == case_id, UserTask.element_id == element_id, UserTask.state == "open"
            )
        ).scalar()
    assert found, f"{element_id} is not open"
    return found


def initiative(d) -> Initiative:
    with d.session() as s:
        return s.execute(sa.select(Initiative)).scalar_one()


def test_fixture_routine_drives_the_initiative_states(client, d, relay, smtp):
    body = {
        "kind": "e_forslag",
        "subject": "Utegym i Hässelby strand",
        "text": "Bygg ett utegym vid stranden.",
        "initiator": {"name": "Ali Exempel", "email": "ali@example.se"},
    }
    dnr = post(client, body, "f-1").json()["diarienummer"]
    case_id = initiative(d).case_id
    d.complete_task(task(d, case_id, "Task_granska"), "hanna", {"granskning": "ok"})
    assert initiatives.sync_from_cases(d) == 1
    assert initiative(d).status == "screened"
    r = post(client, {**body, "event": "threshold_reached", "reference": dnr, "votes": 300}, "f-2")
    assert r.status == 200
    d.complete_task(task(d, case_id, "Task_beslut"), "nils", {"beslut_text": "Nämnden bifaller förslaget."})
    assert initiatives.sync_from_cases(d) == 1
    i = initiative(d)
    assert i.status == "answered" and i.decision == "Nämnden bifaller förslaget." and i.closed_at is not None
    relay()
    mails = smtp.to("ali@example.se")
    subjects = [m["subject"] for m in mails]
    assert subjects[0] == f"Mottagningsbevis {dnr}"
    assert f"Svar på ditt initiativ {dnr}" in subjects  # the routine's own send task
    assert [s for s in subjects if s.startswith(f"{dnr}: ")] == [
        f"{dnr}: Granskat",
        f"{dnr}: Beslutat",
        f"{dnr}: Besvarat",
    ]
    page = client.get(f"/initiativ/status/{status_token(mails[0]['body'])}").text
    assert "Nämnden bifaller förslaget." in page and "Besvarat" in page


def test_unrouted_when_the_routine_is_not_deployed(client, d):
    """The rule's message has no deployed routine: the initiative is still registered, staff see why."""
    body = {
        "kind": "initiativ_medborgardialog",
        "subject": "Dialog om biblioteket",
        "text": "Snälla.",
        "area": "Hässelby-Vällingby",
    }
    r = post(client, body, "u-1")
    assert r.status == 201 and r.json()["routed"] is False
    i = initiative(d)
    assert i.case_id is None and "initiativ_mottaget" in i.routing["error"]


def test_hasselby_vallingby_routine_from_webhook_to_answer_email(client, d, relay, smtp):
    d.deploy(HV.read_bytes(), "extern_initiativ.bpmn", "test")
    d.add_user("anders", None, ["avdelningschef"], email="anders@kommun.example.se")
    d.add_user("elin", None, ["enhetschef"], email="elin@kommun.example.se")
    body = {
        "kind": "initiativ_medborgardialog",
        "subject": "Oro kring nedläggning av fritidsgården",
        "text": "Vi vill ha en dialog om fritidsgården i Vällingby innan beslut tas.",
        "area": "Hässelby-Vällingby",
        "initiator": {"name": "Fatima Exempel", "email": "fatima@example.se"},
    }
    r = post(client, body, "hv-1")
    assert r.status == 201 and r.json()["routed"] is True, r.text
    dnr = r.json()["diarienummer"]
    i = initiative(d)
    assert i.process_key == "hv_extern_initiativ"
    relay()
    received = [m["subject"] for m in smtp.to("fatima@example.se")]
    assert f"Mottagningsbevis {dnr}" in received
    assert "Vi har tagit emot ditt initiativ till medborgardialog" in received  # the routine's receipt
    case_id = i.case_id
    d.complete_task(
        task(d, case_id, "Task_registrera_initiativ"),
        "anders",
        {
            "diarienummer": dnr,
            "initiativ_anledning": "nedlaggning",
            "initiativ_sammanfattning": "Fritidsgården",
            "ansvarig_enhet": "Fritid",
        },
    )
    d.complete_task(
        task(d, case_id, "Task_utreda_mojlighet"),
        "elin",
        {
            "fragan_paverkbar": False,
            "beslutsfattare_paverkbara": True,
            "utredning_sammanfattning": "Beslutat.",
        },
    )
    d.complete_task(
        task(d, case_id, "Task_ange_skal"),
        "elin",
        {"skal_ej_paverkbar": "tidsstyrd", "skal_beskrivning": "Beslutet om lokalen är redan fattat."},
    )
    d.complete_task(
        task(d, case_id, "Task_skriva_tjansteutlatande"),
        "anders",
        {
            "tjansteutlatande_diarienummer": "HV 2026/0100",
            "tjansteutlatande_datum": "2026-03-01",
            "tjansteutlatande_forslag": "Ingen dialog.",
            "forvaltningens_forslag": "ingen_dialog",
        },
    )
    d.complete_task(
        task(d, case_id, "Task_registrera_namndbeslut"),
        "nina",
        {
            "namnd_beslut_dialog": False,
            "namnd_beslut_motivering": "Nämnden beslutar att inte genomföra en medborgardialog.",
            "namnd_beslut_datum": "2026-04-15",
            "namnd_protokoll": "§ 12",
        },
    )
    initiatives.sync_from_cases(d)
    i = initiative(d)
    assert i.status == "answered" and i.closed_at is not None  # the case ended on "Ingen dialog"
    relay()
    subjects = [m["subject"] for m in smtp.to("fatima@example.se")]
    assert "Beslut om ditt initiativ till medborgardialog" in subjects  # the routine's answer e-mail
    answer = next(m for m in smtp.to("fatima@example.se") if m["subject"].startswith("Beslut om"))
    assert dnr in answer["body"] and "inte genomföra en medborgardialog" in answer["body"]
    assert [s for s in subjects if s.startswith(f"{dnr}: ")] == [
        f"{dnr}: Granskat",
        f"{dnr}: Beslutat",
        f"{dnr}: Besvarat",
    ]

"""``POST /engine-rest/signal`` (Camunda 7's "Throw a Signal"): a broadcast to every waiting case and every
signal start event, with typed variables; the rights of ``POST /message``; bad input a 400 naming the
field, with nothing changed; a signal nobody waits for a 204."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.models import AuditEvent, Case, UserTask
from engine.signal_models import PendingSignal
from tests.conftest import count, fixture_bytes
from tests.rest.conftest import PASSWORD, basic

SIGNAL = "beslut_fattat"
URL = "/engine-rest/signal"


@pytest.fixture
def waiting(engine):
    """The Modeler diagram deployed; a case waiting at a catch event and one with a boundary signal on a
    task, both started by hanna (handlaggare, also the starter role of the signal-started process)."""
    engine.deploy(fixture_bytes("signals.bpmn"), "signals.bpmn", "olle")
    b = engine.start_case("signal_vantare", actor="hanna")
    c = engine.start_case("signal_avbryt", actor="hanna")
    return b, c


def open_elements(engine, case_id: str) -> list[str]:
    with engine.session() as s:
        return sorted(
            s.execute(
                sa.select(UserTask.element_id).where(UserTask.case_id == case_id, UserTask.state == "open")
            ).scalars()
        )


def started(engine) -> list[Case]:
    with engine.session() as s:
        return list(s.execute(sa.select(Case).where(Case.process_key == "signal_startad")).scalars())


def test_a_signal_with_typed_variables_wakes_and_starts(client, engine, waiting):
    b, c = waiting
    r = client.post(
        URL,
        json={
            "name": SIGNAL,
            "variables": {
                "beslutsdatum": {"value": "2026-05-01T13:45:00.000+0200", "type": "Date"},
                "antal": {"value": 5, "type": "Long"},
                "beslut": {"value": "bifall", "type": "String"},
            },
            "withoutTenantId": True,
        },
        headers=basic("hanna"),
    )
    assert r.status_code == 204 and r.data == b""
    assert open_elements(engine, b.id) == ["Informera"]
    assert open_elements(engine, c.id) == ["Avsluta_beredning"]
    [new] = started(engine)
    assert open_elements(engine, new.id) == ["Folj_upp"]
    for case_id in (b.id, new.id):
        variables = client.get(
            f"/engine-rest/process-instance/{case_id}/variables", headers=basic("hanna")
        ).json
        assert variables["antal"] == {"value": 5, "type": "Long", "valueInfo": {}}
        assert variables["beslut"]["value"] == "bifall"
        assert variables["beslutsdatum"]["type"] == "Date"
        assert variables["beslutsdatum"]["value"].startswith("2026-05-01T13:45:00")
    with engine.session() as s:
        actors = (
            s.execute(
                sa.select(AuditEvent.actor).where(
                    AuditEvent.case_id == b.id, AuditEvent.kind == "signal_received"
                )
            )
            .scalars()
            .all()
        )
    assert actors == ["hanna"]
    assert engine.verify_audit() == []
    # Camunda's history names the catch event with its activity type.
    history = client.get(
        f"/engine-rest/history/activity-instance?processInstanceId={b.id}", headers=basic("hanna")
    ).json
    assert ("Vanta_beslut", "intermediateSignalCatch") in {
        (h["activityId"], h["activityType"]) for h in history
    }
    # The named-engine path is the same resource; nobody waits any more: still a 204.
    r = client.post("/engine-rest/engine/default/signal", json={"name": SIGNAL}, headers=basic("hanna"))
    assert r.status_code == 204
    assert len(started(engine)) == 2  # the signal start event starts a case every time


def test_a_signal_nobody_catches_is_no_error(client, engine, waiting):
    r = client.post(URL, json={"name": "ingen_lyssnar"}, headers=basic("nils"))
    assert r.status_code == 204
    assert count(engine, PendingSignal) == 0


def test_rights_are_those_of_post_message(client, engine, waiting):
    b, c = waiting
    engine.add_user("rollos", PASSWORD, [])
    for user in ("nils", "rollos"):  # no part in the waiting cases, no starter role
        r = client.post(URL, json={"name": SIGNAL}, headers=basic(user))
        assert r.status_code == 403 and r.json["type"] == "AuthorizationException", (user, r.json)
    assert client.post(URL, json={"name": SIGNAL}).status_code == 401
    assert open_elements(engine, b.id) == [] and open_elements(engine, c.id) == ["Bereda"]
    assert started(engine) == [] and count(engine, PendingSignal) == 0  # nothing changed
    # henrik (handlaggare) has a part in C (its task's group) and in B (none of its tasks yet; he did not
    # start it): B keeps him out, so he is refused as a whole.
    r = client.post(URL, json={"name": SIGNAL}, headers=basic("henrik"))
    assert r.status_code == 403
    assert client.post(URL, json={"name": SIGNAL}, headers=basic("hanna")).status_code == 204
    assert open_elements(engine, b.id) == ["Informera"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": SIGNAL, "executionId": "abc"}, "executionId"),
        ({"name": SIGNAL, "tenantId": "malmo"}, "tenantId"),
        ({"name": SIGNAL, "processVariables": {}}, "processVariables"),
        ({"name": SIGNAL, "withoutTenantId": "kanske"}, "withoutTenantId"),
        ({"name": SIGNAL, "variables": {"antal": {"value": "fem", "type": "Integer"}}}, "antal"),
        ({"name": SIGNAL, "variables": {"fil": {"value": "AA==", "type": "Bytes"}}}, "fil"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(client, engine, waiting, payload, field):
    b, _c = waiting
    r = client.post(URL, json=payload, headers=basic("hanna"))
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json
    assert field in r.json["message"] or field in str(r.json.get("problems")), r.json
    assert open_elements(engine, b.id) == [] and started(engine) == []
    assert count(engine, PendingSignal) == 0

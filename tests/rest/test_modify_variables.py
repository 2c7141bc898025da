"""Changing a running case's variables outside a task (``POST /process-instance/{id}/variables``, ``PUT``
and ``DELETE`` of one): a process manager's right, audited with before → after (personal data
redacted), seen by the steps still to come, and a refused change changes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from engine.models import AuditEvent
from tests.rest.conftest import basic
from tests.rest.test_tasks import granska, start

OLLE = basic("olle")  # processagare


def _vars(client, case_id: str) -> dict:
    r = client.get(f"/engine-rest/process-instance/{case_id}/variables", headers=basic("hanna"))  # started it
    assert r.status_code == 200, r.json
    return r.json


def test_a_manager_sets_and_removes_variables_and_the_case_goes_on_with_them(client, engine, deployed):
    case_id = start(client, "M-1", initiator_email=("a@example.se", "String"), antal=(3, "Integer"))
    r = client.post(
        f"/engine-rest/process-instance/{case_id}/variables",
        json={
            "modifications": {"antal": {"value": -5, "type": "Long"}, "status": {"value": "granskad"}},
            "deletions": ["initiator_email"],
        },
        headers=OLLE,
    )
    assert r.status_code == 204, r.json
    got = _vars(client, case_id)
    assert got["antal"] == {"type": "Long", "value": -5, "valueInfo": {}}
    assert got["status"]["value"] == "granskad" and "initiator_email" not in got
    # The open task sees the new values too.
    task = granska(client, case_id)
    tv = client.get(f"/engine-rest/task/{task}/variables", headers=basic("hanna")).json
    assert tv["antal"]["value"] == -5 and "initiator_email" not in tv

    with engine.session() as s:
        [ev] = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.chain == case_id, AuditEvent.kind == "variables_modified")
        )
        assert ev.actor == "olle" and ev.detail["removed"] == ["initiator_email"]
        assert ev.detail["changes"]["antal"] == [3, -5]
        assert ev.detail["changes"]["initiator_email"][1] is None
        assert "a@example.se" not in str(ev.detail)  # personal data never enters the audit log
    assert engine.verify_audit(case_id) == []
    ops = client.get(
        "/engine-rest/history/user-operation",
        query_string={"processInstanceId": case_id, "operationType": "ModifyVariable"},
        headers=OLLE,
    ).json
    assert [(o["userId"], o["entityType"], o["newValue"]) for o in ops] == [
        ("olle", "Variable", "antal,initiator_email,status")
    ]

    # The next decision reads the changed value: antal < 0 takes the "nej" branch and the case ends.
    done = {
        "fragan_paverkbar": {"value": True, "type": "Boolean"},
        "kommentar": {"value": "ok", "type": "String"},
    }
    r = client.post(f"/engine-rest/task/{task}/complete", json={"variables": done}, headers=basic("hanna"))
    assert r.status_code == 204, r.json
    hist = client.get(f"/engine-rest/history/process-instance/{case_id}", headers=OLLE).json
    assert hist["state"] == "COMPLETED"
    acts = client.get(
        "/engine-rest/history/activity-instance", query_string={"processInstanceId": case_id}, headers=OLLE
    ).json
    assert acts[-1]["activityId"] == "End_nej"


def test_put_and_delete_one_variable(client, deployed):
    case_id = start(client, "M-2", antal=(3, "Integer"))
    url = f"/engine-rest/process-instance/{case_id}/variables/antal"
    assert client.put(url, json={"value": 7, "type": "Short"}, headers=OLLE).status_code == 204
    assert client.get(url, headers=OLLE).json == {"type": "Short", "value": 7, "valueInfo": {}}
    assert client.delete(url, headers=OLLE).status_code == 204
    assert client.get(url, headers=OLLE).status_code == 404


def test_refused_changes_change_nothing(client, engine, deployed):
    case_id = start(client, "M-3", antal=(3, "Integer"))
    url = f"/engine-rest/process-instance/{case_id}/variables"
    mods = {"modifications": {"antal": {"value": 4, "type": "Integer"}}}
    r = client.post(url, json=mods, headers=basic("hanna"))  # not a process manager
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException", r.json
    for bad in (
        {"modifications": {"antal": {"value": "fyra", "type": "Integer"}}},
        {"modifications": {"antal": {"value": 4}}, "deletions": ["antal"]},
        {"deletions": "antal"},
        {"modifications": {"_dolt": {"value": 1}}},
        {"modifications": {"antal": {"value": 4}}, "skipListeners": True},
    ):
        r = client.post(url, json=bad, headers=OLLE)
        assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", (bad, r.json)
    assert _vars(client, case_id)["antal"]["value"] == 3
    r = client.post("/engine-rest/process-instance/nope/variables", json=mods, headers=OLLE)
    assert r.status_code == 404, r.json
    engine.cancel_case(case_id, "olle", "test")
    r = client.post(url, json=mods, headers=OLLE)
    assert r.status_code == 404, r.json
    with engine.session() as s:
        kinds = s.scalars(sa.select(AuditEvent.kind).where(AuditEvent.chain == case_id)).all()
    assert "variables_modified" not in kinds


def test_a_change_that_changes_nothing_leaves_no_trace(client, engine, deployed):
    case_id = start(client, "M-4", antal=(3, "Integer"))
    url = f"/engine-rest/process-instance/{case_id}/variables"
    assert client.delete(f"{url}/saknas", headers=OLLE).status_code == 204
    assert client.put(f"{url}/antal", json={"value": 3, "type": "Integer"}, headers=OLLE).status_code == 204
    with engine.session() as s:
        kinds = s.scalars(sa.select(AuditEvent.kind).where(AuditEvent.chain == case_id)).all()
    assert "variables_modified" not in kinds
    # The same value declared as a Long is a change (of its type), and is recorded.
    assert client.put(f"{url}/antal", json={"value": 3, "type": "Long"}, headers=OLLE).status_code == 204
    assert _vars(client, case_id)["antal"]["type"] == "Long"
    with engine.session() as s:
        kinds = s.scalars(sa.select(AuditEvent.kind).where(AuditEvent.chain == case_id)).all()
    assert kinds.count("variables_modified") == 1

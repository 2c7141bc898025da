"""Changing a case's variables through one of its open tasks (``POST /task/{id}/variables``, ``PUT`` and
``DELETE`` of one), as Camunda's non-local task variables change the process instance's: the right of
whoever may work on the task (not of a process manager as such), audited with the task's id, seen by the
steps still to come; a refused change changes nothing. Delaktig keeps no task-local variables:
``…/localVariables`` shows none and refuses to set any."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

from engine.errors import Conflict, NotFound
from engine.models import AuditEvent, Case
from tests.rest.conftest import basic
from tests.rest.test_tasks import GOOD, granska, start

HANNA, HENRIK, NILS, OLLE = basic("hanna"), basic("henrik"), basic("nils"), basic("olle")


def _vars(client, case_id: str) -> dict:
    r = client.get(f"/engine-rest/process-instance/{case_id}/variables", headers=HANNA)  # started it
    assert r.status_code == 200, r.json
    return r.json


def _audit(engine, case_id: str) -> list[AuditEvent]:
    with engine.session() as s:
        return list(
            s.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.chain == case_id, AuditEvent.kind == "variables_modified")
                .order_by(AuditEvent.seq)
            )
        )


def test_a_candidate_changes_the_cases_variables_through_the_task_and_the_case_goes_on_with_them(
    client, engine, deployed
):
    case_id = start(client, "TV-1", initiator_email=("a@example.se", "String"), antal=(3, "Integer"))
    task = granska(client, case_id)
    r = client.post(
        f"/engine-rest/task/{task}/variables",
        json={
            "modifications": {"antal": {"value": -5, "type": "Long"}, "status": {"value": "granskad"}},
            "deletions": ["initiator_email"],
        },
        headers=HANNA,  # a candidate (handlaggare); the task is unassigned
    )
    assert r.status_code == 204, r.json
    got = _vars(client, case_id)
    assert got["antal"] == {"type": "Long", "value": -5, "valueInfo": {}}
    assert got["status"]["value"] == "granskad" and "initiator_email" not in got
    tv = client.get(f"/engine-rest/task/{task}/variables", headers=HANNA).json
    assert tv["antal"]["value"] == -5 and "initiator_email" not in tv

    [ev] = _audit(engine, case_id)
    assert (ev.actor, ev.task_id) == ("hanna", task)
    assert ev.detail["removed"] == ["initiator_email"] and ev.detail["changes"]["antal"] == [3, -5]
    assert "a@example.se" not in str(ev.detail)  # personal data never enters the audit log
    assert engine.verify_audit(case_id) == []
    ops = client.get(
        "/engine-rest/history/user-operation",
        query_string={"taskId": task, "operationType": "ModifyVariable"},
        headers=HANNA,
    ).json
    assert [(o["userId"], o["taskId"], o["processInstanceId"], o["newValue"]) for o in ops] == [
        ("hanna", task, case_id, "antal,initiator_email,status")
    ]

    # The decision after the task reads the changed value: antal < 0 takes the "nej" branch.
    done = {"fragan_paverkbar": {"value": True, "type": "Boolean"}, "kommentar": {"value": "ok"}}
    r = client.post(f"/engine-rest/task/{task}/complete", json={"variables": done}, headers=HANNA)
    assert r.status_code == 204, r.json
    hist = client.get(f"/engine-rest/history/process-instance/{case_id}", headers=HANNA).json
    assert hist["state"] == "COMPLETED"
    acts = client.get(
        "/engine-rest/history/activity-instance", query_string={"processInstanceId": case_id}, headers=HANNA
    ).json
    assert acts[-1]["activityId"] == "End_nej"


def test_put_and_delete_one_variable_and_a_change_that_changes_nothing_leaves_no_trace(
    client, engine, deployed
):
    case_id = start(client, "TV-2", antal=(3, "Integer"))
    task = granska(client, case_id)
    url = f"/engine-rest/task/{task}/variables/antal"
    assert client.put(url, json={"value": 3, "type": "Integer"}, headers=HANNA).status_code == 204
    assert client.delete(f"/engine-rest/task/{task}/variables/saknas", headers=HANNA).status_code == 204
    assert client.post(f"/engine-rest/task/{task}/variables", json={}, headers=HANNA).status_code == 204
    assert _audit(engine, case_id) == []

    assert client.put(url, json={"value": 7, "type": "Short"}, headers=HANNA).status_code == 204
    assert client.get(url, headers=HANNA).json == {"type": "Short", "value": 7, "valueInfo": {}}
    assert _vars(client, case_id)["antal"] == {"type": "Short", "value": 7, "valueInfo": {}}
    assert client.delete(url, headers=HANNA).status_code == 204
    assert client.get(url, headers=HANNA).status_code == 404
    assert "antal" not in _vars(client, case_id)
    events = _audit(engine, case_id)
    assert [(e.task_id, e.detail["changes"]["antal"], e.detail["removed"]) for e in events] == [
        (task, [3, 7], []),
        (task, [7, None], ["antal"]),
    ]


def test_who_may_change_variables_through_a_task(client, engine, deployed):
    case_id = start(client, "TV-3", antal=(3, "Integer"))
    task = granska(client, case_id)
    url = f"/engine-rest/task/{task}/variables"
    mods = {"modifications": {"antal": {"value": 4, "type": "Integer"}}}
    # Another role's task (nils is in the nämnd), and a process manager who is no candidate: the right
    # to change a case's variables through a task is the task's, as completing it is.
    for who in (NILS, OLLE):
        for r in (
            client.post(url, json=mods, headers=who),
            client.put(f"{url}/antal", json={"value": 4}, headers=who),
            client.delete(f"{url}/antal", headers=who),
        ):
            assert r.status_code == 403 and r.json["type"] == "AuthorizationException", r.json
            assert r.json["missingAuthorizations"] == [
                {"permissionName": "UPDATE_VARIABLE", "resourceName": "Task", "resourceId": task}
            ]
    # Once henrik holds the task, it is his: another candidate may no longer change it.
    claim = client.post(f"/engine-rest/task/{task}/claim", json={"userId": "henrik"}, headers=HENRIK)
    assert claim.status_code == 204
    r = client.post(url, json=mods, headers=HANNA)
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException", r.json
    assert _vars(client, case_id)["antal"]["value"] == 3 and _audit(engine, case_id) == []
    assert client.post(url, json=mods, headers=HENRIK).status_code == 204
    assert _vars(client, case_id)["antal"]["value"] == 4
    assert [e.actor for e in _audit(engine, case_id)] == ["henrik"]


def test_refused_changes_change_nothing(client, engine, deployed):
    case_id = start(client, "TV-4", antal=(3, "Integer"))
    task = granska(client, case_id)
    url = f"/engine-rest/task/{task}/variables"
    for bad in (
        {"modifications": {"antal": {"value": "fyra", "type": "Integer"}}},
        {"modifications": {"antal": {"value": 2**40, "type": "Integer"}}},
        {"modifications": {"antal": {"value": 4}}, "deletions": ["antal"]},
        {"deletions": "antal"},
        {"modifications": {"_dolt": {"value": 1}}},
        {"modifications": {"antal": {"value": 4}}, "skipListeners": True},
    ):
        r = client.post(url, json=bad, headers=HANNA)
        assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", (bad, r.json)
    r = client.post(url, json={"modifications": {"antal": {"value": "fyra", "type": "Long"}}}, headers=HANNA)
    assert "'antal'" in r.json["message"], r.json  # names the variable
    r = client.put(f"{url}/mote", json={"value": "igår", "type": "Date"}, headers=HANNA)
    assert r.status_code == 400 and "mote" in r.json["message"], r.json
    assert _vars(client, case_id)["antal"]["value"] == 3 and "mote" not in _vars(client, case_id)

    # An unknown task, and a task no longer open: Camunda's runtime knows neither (404).
    for r in (
        client.post("/engine-rest/task/nope/variables", json={}, headers=HANNA),
        client.put("/engine-rest/task/nope/variables/antal", json={"value": 4}, headers=HANNA),
        client.delete("/engine-rest/task/nope/variables/antal", headers=HANNA),
    ):
        assert r.status_code == 404 and r.json["type"] == "InvalidRequestException", r.json
    r = client.post(f"/engine-rest/task/{task}/complete", json={"variables": GOOD}, headers=HANNA)
    assert r.status_code == 204, r.json
    before = _vars(client, case_id)
    for r in (
        client.post(url, json={"modifications": {"antal": {"value": 4}}}, headers=HANNA),
        client.put(f"{url}/antal", json={"value": 4}, headers=HANNA),
        client.delete(f"{url}/antal", headers=HANNA),
    ):
        assert r.status_code == 404 and r.json["message"] == f"No matching task with id {task}", r.json
    assert _vars(client, case_id) == before
    assert _audit(engine, case_id) == []


def test_a_task_completed_before_the_change_is_no_way_in(engine, deployed):
    """The engine checks the task inside the change's own transaction: completed, it is a Conflict."""
    info = engine.start_case("test_initiativ", "TV-5", {"antal": 3}, actor="hanna")
    [task] = info.open_tasks
    engine.complete_task(task, "hanna", {"fragan_paverkbar": True, "kommentar": "ok", "antal": 12})
    with pytest.raises(Conflict):
        engine.set_task_variables(task, "hanna", {"antal": 4})
    with pytest.raises(NotFound):
        engine.set_task_variables("nope", "hanna", {"antal": 4})
    assert _audit(engine, info.id) == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # PostgreSQL only: SQLite never interleaves
def test_a_completion_between_the_check_and_the_lock_is_seen(engine, deployed, monkeypatch):
    """PostgreSQL runs writers side by side (READ COMMITTED): the task is checked again once the case is
    locked, so a completion committed after the first check is no way in either. (SQLite's writers queue
    at BEGIN IMMEDIATE: no such interleaving there.)"""
    assert engine.dialect == "postgresql"
    info = engine.start_case("test_initiativ", "TV-7", {"antal": 3}, actor="hanna")
    [task] = info.open_tasks
    first_check = engine._task_for
    calls = []

    def completed_meanwhile(s, task_id, actor, roles):
        found = first_check(s, task_id, actor, roles)
        if not calls:
            calls.append(task_id)  # henrik completes it in his own transaction, right after this check
            engine.complete_task(task, "henrik", {"fragan_paverkbar": True, "kommentar": "ok", "antal": 12})
        return found

    monkeypatch.setattr(engine, "_task_for", completed_meanwhile)
    with pytest.raises(Conflict):
        engine.set_task_variables(task, "hanna", {"antal": 4}, roles={"handlaggare"})
    assert calls == [task] and _audit(engine, info.id) == []
    with engine.session() as s:
        assert s.get(Case, info.id).data["antal"] == 12


def test_task_local_variables_are_none_and_cannot_be_set(client, engine, deployed):
    case_id = start(client, "TV-6", antal=(3, "Integer"))
    task = granska(client, case_id)
    local = f"/engine-rest/task/{task}/localVariables"
    r = client.get(local, headers=HANNA)
    assert r.status_code == 200 and r.json == {}, r.json
    r = client.get(f"{local}/antal", headers=HANNA)  # a case variable, not a local one
    assert r.status_code == 404 and r.json["type"] == "InvalidRequestException", r.json
    assert client.get(local, headers=NILS).status_code == 403
    assert client.get("/engine-rest/task/nope/localVariables", headers=HANNA).status_code == 404
    for r in (
        client.post(local, json={"modifications": {"antal": {"value": 4, "type": "Integer"}}}, headers=HANNA),
        client.put(f"{local}/antal", json={"value": 4, "type": "Integer"}, headers=HANNA),
    ):
        assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json
        assert "no task-local variables" in r.json["message"], r.json
    assert client.delete(f"{local}/antal", headers=HANNA).status_code == 204  # none held: nothing removed
    assert _vars(client, case_id)["antal"]["value"] == 3 and _audit(engine, case_id) == []

    r = client.post(f"/engine-rest/task/{task}/complete", json={"variables": GOOD}, headers=HANNA)
    assert r.status_code == 204, r.json
    assert client.get(local, headers=HANNA).status_code == 404


def test_values_of_another_kind_are_a_change_and_deep_json_is_refused(client, engine, deployed):
    """Python's 1 == True == 1.0 dropped a change of kind without a word; a type-only change (Integer →
    Long) is recorded as such; JSON nested deeper than the guard allows is a 400, not a 500."""
    case_id = start(client, "TV-9", antal=(1, "Integer"))
    task = granska(client, case_id)
    url = f"/engine-rest/task/{task}/variables/antal"
    for typed, expected in (
        ({"value": True, "type": "Boolean"}, ("Boolean", True)),
        ({"value": 2, "type": "Integer"}, ("Integer", 2)),
        ({"value": 2.0, "type": "Double"}, ("Double", 2.0)),
        ({"value": 2, "type": "Long"}, ("Long", 2)),
        ({"value": 2, "type": "Integer"}, ("Integer", 2)),
    ):
        assert client.put(url, json=typed, headers=HANNA).status_code == 204, typed
        got = _vars(client, case_id)["antal"]
        assert (got["type"], got["value"]) == expected, typed
    rows = _audit(engine, case_id)
    assert len(rows) == 5
    assert rows[3].detail["retyped"] == {"antal": [None, "Long"]}  # Double 2.0 → Long 2: kind and type
    assert rows[4].detail == {"changes": {}, "removed": [], "retyped": {"antal": ["Long", None]}}  # type only
    deep: object = 1
    for _ in range(150):
        deep = [deep]
    r = client.put(url, json={"value": orjson.dumps(deep).decode(), "type": "Json"}, headers=HANNA)
    assert r.status_code == 400, r.json
    r = client.post(f"/engine-rest/task/{task}/variables", data=b"[" * 5000 + b"]" * 5000,
                    content_type="application/json", headers=HANNA)  # fmt: skip
    assert r.status_code == 400, r.json
    assert len(_audit(engine, case_id)) == 5


def test_an_untyped_integer_beyond_64_bits_is_refused(client, engine, deployed):
    case_id = start(client, "TV-10", antal=(1, "Integer"))
    task = granska(client, case_id)
    for value in (2**63, 2**64 - 1):  # (beyond unsigned 64 bits the JSON parser already reads a float)
        r = client.put(f"/engine-rest/task/{task}/variables/antal", json={"value": value}, headers=HANNA)
        assert r.status_code == 400 and "64-bit" in r.json["message"], value
    assert _vars(client, case_id)["antal"]["value"] == 1

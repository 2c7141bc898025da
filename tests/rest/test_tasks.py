"""Task, instance and history endpoints through the Flask test client: filters, sorting, paging, the
Camunda error shapes, role checks, and that a refused request changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine import clock
from engine.models import AuditEvent, UserTask
from tests.conftest import count
from tests.rest.conftest import basic

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def start(client, bk: str, user: str = "hanna", **variables):
    body = {"businessKey": bk, "variables": {k: {"value": v, "type": t} for k, (v, t) in variables.items()}}
    r = client.post(
        "/engine-rest/process-definition/key/test_initiativ/start", json=body, headers=basic(user)
    )
    assert r.status_code == 200, r.json
    return r.json["id"]


def tasks(client, user: str = "hanna", **params):
    r = client.get("/engine-rest/task", query_string=params, headers=basic(user))
    assert r.status_code == 200, r.json
    return r.json


def granska(client, case_id: str) -> str:
    (task,) = tasks(client, processInstanceId=case_id)
    return task["id"]


GOOD = {
    "fragan_paverkbar": {"value": True, "type": "Boolean"},
    "kommentar": {"value": "Påverkbar.", "type": "String"},
    "antal": {"value": 12, "type": "Long"},
}


def test_version_engine_and_auth(client):
    assert client.get("/engine-rest/engine").status_code == 401
    assert client.get("/engine-rest/engine", headers=basic("hanna")).json == [{"name": "default"}]
    r = client.get("/engine-rest/task", headers=basic("hanna", "fel-lösenord"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="default"'
    r = client.get("/engine-rest/task", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401


def test_task_query_filters_sorting_paging(client, deployed):
    with clock.frozen(T0):
        a = start(client, "A")
    with clock.frozen(T0 + timedelta(days=3)):
        b = start(client, "B")
    with clock.frozen(T0 + timedelta(days=6)):
        c = start(client, "C")
    ta, tb, tc = granska(client, a), granska(client, b), granska(client, c)
    assert (
        client.post(
            f"/engine-rest/task/{tb}/claim", json={"userId": "hanna"}, headers=basic("hanna")
        ).status_code
        == 204
    )

    assert [t["id"] for t in tasks(client, businessKey="B")] == [tb]
    assert [t["id"] for t in tasks(client, processInstanceBusinessKey="C")] == [tc]
    assert {t["id"] for t in tasks(client, processDefinitionKey="test_initiativ")} == {ta, tb, tc}
    assert tasks(client, processDefinitionKey="annan") == []
    assert [t["id"] for t in tasks(client, assignee="hanna")] == [tb]
    assert {t["id"] for t in tasks(client, unassigned="true")} == {ta, tc}
    # Candidate queries leave out claimed tasks unless asked, as Camunda does.
    assert {t["id"] for t in tasks(client, candidateGroup="handlaggare")} == {ta, tc}
    assert {t["id"] for t in tasks(client, candidateGroup="handlaggare", includeAssignedTasks="true")} == {
        ta,
        tb,
        tc,
    }
    assert {t["id"] for t in tasks(client, candidateUser="henrik")} == {ta, tc}
    assert len(tasks(client, withCandidateGroups="true")) == 3
    # Due P14D from creation: A on 16 March, B on 19 March, C on 22 March.
    due = tasks(client, dueAfter="2026-03-17T00:00:00.000+0000", dueBefore="2026-03-21T00:00:00.000+0000")
    assert [t["id"] for t in due] == [tb]
    assert due[0]["due"] == "2026-03-19T08:00:00.000+0000"
    follow = tasks(client, followUpBefore="2026-03-10T00:00:00.000+0000")
    assert [t["id"] for t in follow] == [ta]
    assert [t["id"] for t in tasks(client, sortBy="created", sortOrder="desc")] == [tc, tb, ta]
    assert [
        t["id"] for t in tasks(client, sortBy="dueDate", sortOrder="asc", firstResult=1, maxResults=1)
    ] == [tb]
    r = client.post(
        "/engine-rest/task",
        json={
            "candidateGroup": "handlaggare",
            "sorting": [{"sortBy": "created", "sortOrder": "desc"}],
            "maxResults": 1,
        },
        headers=basic("hanna"),
    )
    assert [t["id"] for t in r.json] == [tc]
    assert client.get(
        "/engine-rest/task/count", query_string={"unassigned": "true"}, headers=basic("hanna")
    ).json == {"count": 2}
    assert client.post(
        "/engine-rest/task/count", json={"assignee": "hanna"}, headers=basic("hanna")
    ).json == {"count": 1}
    # Nils (nämnd) sees none of the handläggare tasks, whatever he asks for.
    assert tasks(client, "nils") == [] and tasks(client, "nils", candidateGroup="handlaggare") == []

    for params, fragment in [
        ({"maxResults": "many"}, "maxResults"),
        ({"sortBy": "created"}, "sortBy and sortOrder required"),
        ({"sortBy": "colour", "sortOrder": "asc"}, "sortBy"),
        ({"dueBefore": "next tuesday"}, "dueBefore"),
        ({"unassigned": "maybe"}, "unassigned"),
    ]:
        r = client.get("/engine-rest/task", query_string=params, headers=basic("hanna"))
        assert (
            r.status_code == 400
            and r.json["type"] == "InvalidRequestException"
            and fragment in r.json["message"]
        )


def test_task_views_and_variables(client, deployed):
    case = start(client, "V", initiator_email=("a@example.se", "String"), antal=(7, "Long"))
    tid = granska(client, case)
    r = client.get(f"/engine-rest/task/{tid}", headers=basic("hanna"))
    assert r.json["taskDefinitionKey"] == "Granska" and r.json["processInstanceId"] == case
    form = client.get(f"/engine-rest/task/{tid}/form-variables", headers=basic("hanna")).json
    assert form["antal"] == {"type": "Long", "value": 7, "valueInfo": {}}
    assert form["mote"]["type"] == "Date" and form["fragan_paverkbar"]["type"] == "Boolean"
    only = client.get(
        f"/engine-rest/task/{tid}/form-variables?variableNames=antal", headers=basic("hanna")
    ).json
    assert list(only) == ["antal"]
    variables = client.get(f"/engine-rest/task/{tid}/variables", headers=basic("hanna")).json
    assert variables["initiator_email"] == {"type": "String", "value": "a@example.se", "valueInfo": {}}
    # The case's variables: for whoever may read the case (henrik: its task is his group's), not for the
    # board (nils) while it has no task in it (tests/rest/test_read_access.py).
    pv = client.get(f"/engine-rest/process-instance/{case}/variables", headers=basic("henrik")).json
    assert pv["antal"]["type"] == "Long"  # as it was written (a JSON number alone would say Integer)
    assert (
        client.get(f"/engine-rest/process-instance/{case}", headers=basic("henrik")).json["businessKey"]
        == "V"
    )
    assert client.get("/engine-rest/process-instance/count", headers=basic("henrik")).json == {"count": 1}
    assert (
        client.get(f"/engine-rest/process-instance/{case}/variables", headers=basic("nils")).status_code
        == 403
    )
    assert client.get("/engine-rest/process-instance/count", headers=basic("nils")).json == {"count": 0}

    r = client.post(
        f"/engine-rest/task/{tid}/complete",
        json={
            "variables": {**GOOD, "mote": {"value": "2026-04-01T00:00:00.000+0200", "type": "Date"}},
            "withVariablesInReturn": True,
        },
        headers=basic("hanna"),
    )
    # The date form field keeps the date (engine.forms); written as a Date, it reads back as one.
    assert r.status_code == 200
    assert r.json["mote"] == {"type": "Date", "value": "2026-04-01T00:00:00.000+0200", "valueInfo": {}}
    assert client.get(f"/engine-rest/task/{tid}", headers=basic("hanna")).status_code == 404


@pytest.mark.parametrize(
    "variables, field",
    [
        ({**GOOD, "antal": {"value": "många", "type": "Long"}}, "antal"),
        ({**GOOD, "antal": {"value": 2**40, "type": "Integer"}}, "antal"),
        ({**GOOD, "fragan_paverkbar": {"value": "kanske", "type": "Boolean"}}, "fragan_paverkbar"),
        ({**GOOD, "extra": {"value": {"a": 1}, "type": "String"}}, "extra"),
        ({**GOOD, "mote": {"value": "1 april", "type": "Date"}}, "mote"),
        ({**GOOD, "x": {"value": 1, "type": "Bytes"}}, "x"),
        ({**GOOD, "kommentar": {"value": "", "type": "String"}}, "kommentar"),  # required form field
        ({**GOOD, "antal": {"value": 101, "type": "Long"}}, "antal"),  # form max 100
        ({**GOOD, "skal": {"value": "okänt", "type": "String"}}, "skal"),  # not an enum option
    ],
)
def test_bad_variables_are_400_naming_them_and_change_nothing(client, engine, deployed, variables, field):
    tid = granska(client, start(client, "X"))
    before = count(engine, AuditEvent)
    r = client.post(
        f"/engine-rest/task/{tid}/complete", json={"variables": variables}, headers=basic("hanna")
    )
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException"
    assert field in r.json["message"]
    assert count(engine, AuditEvent) == before
    assert count(engine, UserTask, UserTask.id == tid, UserTask.state == "open") == 1


def test_malformed_json_and_bodies(client, deployed):
    tid = granska(client, start(client, "M"))
    for data in (b"{not json", b"[1, 2]", b'{"variables": [1]}'):
        r = client.post(
            f"/engine-rest/task/{tid}/complete",
            data=data,
            content_type="application/json",
            headers=basic("hanna"),
        )
        assert r.status_code == 400 and r.json["type"] == "InvalidRequestException"
    r = client.post(
        "/engine-rest/process-definition/key/test_initiativ/start",
        data=b"{",
        content_type="application/json",
        headers=basic("hanna"),
    )
    assert r.status_code == 400


def test_unknown_ids_are_404(client, deployed):
    h = basic("hanna")
    for method, path in [
        ("get", "/engine-rest/task/nope"),
        ("get", "/engine-rest/task/nope/variables"),
        ("get", "/engine-rest/task/nope/form-variables"),
        ("post", "/engine-rest/task/nope/claim"),
        ("post", "/engine-rest/task/nope/complete"),
        ("get", "/engine-rest/process-instance/nope"),
        ("get", "/engine-rest/process-instance/nope/variables"),
        ("get", "/engine-rest/deployment/nope"),
        ("get", "/engine-rest/deployment/nope/resources"),
        ("get", "/engine-rest/process-definition/nope"),
        ("get", "/engine-rest/process-definition/key/nope"),
        ("get", "/engine-rest/process-definition/key/nope/xml"),
        ("post", "/engine-rest/process-definition/key/nope/start"),
        ("post", "/engine-rest/process-definition/nope/start"),
        ("get", "/engine-rest/history/process-instance/nope"),
    ]:
        r = getattr(client, method)(path, json={} if method == "post" else None, headers=h)
        assert r.status_code == 404, (path, r.status_code)
        assert set(r.json) >= {"type", "message"}, path
    r = client.delete("/engine-rest/process-instance/nope", headers=basic("olle"))
    assert r.status_code == 404


def test_other_roles_task_is_403_and_unchanged(client, engine, deployed):
    tid = granska(client, start(client, "R"))
    before = count(engine, AuditEvent)
    r = client.get(f"/engine-rest/task/{tid}", headers=basic("nils"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    assert r.json["missingAuthorizations"][0]["resourceId"] == tid
    for action, body in [
        ("claim", {"userId": "nils"}),
        ("complete", {"variables": GOOD}),
        ("assignee", {"userId": "nils"}),
    ]:
        r = client.post(f"/engine-rest/task/{tid}/{action}", json=body, headers=basic("nils"))
        assert r.status_code == 403 and r.json["type"] == "AuthorizationException", action
    assert (
        client.post(
            f"/engine-rest/task/{tid}/claim", json={"userId": "henrik"}, headers=basic("hanna")
        ).status_code
        == 403
    )
    assert count(engine, AuditEvent) == before


def test_claim_unclaim_assign_complete_conflicts(client, engine, deployed):
    case = start(client, "C")
    tid = granska(client, case)
    h, k = basic("hanna"), basic("henrik")
    assert (
        client.post(f"/engine-rest/task/{tid}/claim", json={"userId": "hanna"}, headers=h).status_code == 204
    )
    before = count(engine, AuditEvent)
    r = client.post(f"/engine-rest/task/{tid}/claim", json={"userId": "henrik"}, headers=k)
    assert (
        r.status_code == 500
        and r.json["type"] == "TaskAlreadyClaimedException"
        and "hanna" in r.json["message"]
    )
    r = client.post(f"/engine-rest/task/{tid}/complete", json={"variables": GOOD}, headers=k)
    # Held by a colleague: a refusal of this user (test_rest_conformance), not a server fault.
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    assert count(engine, AuditEvent) == before
    assert client.post(f"/engine-rest/task/{tid}/unclaim", headers=h).status_code == 204
    assert (
        client.post(f"/engine-rest/task/{tid}/assignee", json={"userId": "henrik"}, headers=h).status_code
        == 204
    )
    assert client.get(f"/engine-rest/task/{tid}", headers=k).json["assignee"] == "henrik"
    assert client.post(f"/engine-rest/task/{tid}/assignee", json={}, headers=k).status_code == 400
    # submit-form is strict: only the form's fields.
    r = client.post(
        f"/engine-rest/task/{tid}/submit-form",
        json={"variables": {**GOOD, "extra": {"value": 1, "type": "Integer"}}},
        headers=k,
    )
    assert r.status_code == 400 and "extra" in r.json["message"]
    assert (
        client.post(f"/engine-rest/task/{tid}/submit-form", json={"variables": GOOD}, headers=k).status_code
        == 204
    )
    before = count(engine, AuditEvent)
    r = client.post(f"/engine-rest/task/{tid}/complete", json={"variables": GOOD}, headers=k)
    assert r.status_code == 500 and r.json["type"] == "ProcessEngineException"
    assert count(engine, AuditEvent) == before
    with engine.session() as s:
        assert s.execute(sa.select(UserTask.completed_by).where(UserTask.id == tid)).scalar() == "henrik"
    ops = client.get("/engine-rest/history/user-operation", query_string={"taskId": tid}, headers=h).json
    assert [(o["operationType"], o["userId"], o["orgValue"], o["newValue"]) for o in ops] == [
        ("Claim", "hanna", None, "hanna"),
        ("Claim", "hanna", "hanna", None),
        ("Assign", "hanna", None, "henrik"),
        ("Complete", "henrik", "false", "true"),
    ]
    assert client.get(
        "/engine-rest/history/user-operation/count", query_string={"userId": "henrik"}, headers=h
    ).json == {"count": 1}


def test_delete_process_instance_is_audited(client, deployed):
    case = start(client, "D")
    r = client.delete(f"/engine-rest/process-instance/{case}", headers=basic("hanna"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    r = client.delete(f"/engine-rest/process-instance/{case}?deleteReason=Dubblett", headers=basic("olle"))
    assert r.status_code == 204
    assert client.get(f"/engine-rest/process-instance/{case}", headers=basic("olle")).status_code == 404
    assert tasks(client, processInstanceId=case) == []
    (hist,) = client.get(
        "/engine-rest/history/process-instance",
        query_string={"processInstanceId": case},
        headers=basic("olle"),
    ).json
    assert hist["state"] == "EXTERNALLY_TERMINATED" and hist["deleteReason"] == "Dubblett"
    ops = client.get(
        "/engine-rest/history/user-operation",
        query_string={"processInstanceId": case, "operationType": "Delete"},
        headers=basic("olle"),
    ).json
    assert [(o["userId"], o["entityType"], o["newValue"]) for o in ops] == [
        ("olle", "ProcessInstance", "Dubblett")
    ]
    acts = client.get(
        "/engine-rest/history/activity-instance",
        query_string={"processInstanceId": case, "activityType": "userTask"},
        headers=basic("olle"),
    ).json
    assert [(a["activityId"], a["canceled"]) for a in acts] == [("Granska", True)]
    assert client.delete(f"/engine-rest/process-instance/{case}", headers=basic("olle")).status_code == 404
    (unfinished,) = client.get(
        "/engine-rest/history/task", query_string={"processInstanceId": case}, headers=basic("olle")
    ).json
    assert unfinished["deleteReason"] == "deleted"


def test_message_errors(client, deployed):
    h = basic("hanna")
    assert client.post("/engine-rest/message", json={}, headers=h).status_code == 400
    r = client.post(
        "/engine-rest/message", json={"messageName": "svar_mottaget", "businessKey": "ingen"}, headers=h
    )
    assert r.status_code == 400 and r.json["type"] == "MismatchingMessageCorrelationException"
    r = client.post("/engine-rest/message", json={"messageName": "x", "processInstanceId": "abc"}, headers=h)
    assert r.status_code == 400 and "processInstanceId" in r.json["message"]
    r = client.post(
        "/engine-rest/message",
        json={"messageName": "svar_mottaget", "correlationKeys": {"k": {"value": "x", "type": "Integer"}}},
        headers=h,
    )
    assert r.status_code == 400 and "'k'" in r.json["message"]

"""Findings of a conformance probe against the Camunda 7.22 REST reference (/tmp/probe_rest/REPORT.md),
pinned: wrongly typed query bodies are 400s, never 500s (DEFECT 1); a String holding timestamp text stays
that String, and a JSON filter value compares as the String it is, a Date as a date (DEFECT 2); a Date
for a date form field reads back as a Date (DEFECT 3); Json and Object variables keep their type
(DEFECT 4); deployment-activation-time is refused (DEFECT 5); a task held by a colleague is a 403, not a
500 (DEFECT 6); Camunda's harmless sort keys are accepted (DEFECT 8); a 204 has no Content-Type (DEFECT 11).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pycamunda
import pycamunda.task
import pytest
import requests

from engine import clock
from engine.models import AuditEvent, Deployment, UserTask
from tests.conftest import count, fixture_bytes
from tests.rest.conftest import PASSWORD, basic
from tests.rest.test_tasks import GOOD, granska, start

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# --- DEFECT 1: wrongly typed body fields of the POST queries ---------------------------------------------
POST_QUERIES = [
    "/task",
    "/task/count",
    "/process-instance",
    "/process-instance/count",
    "/history/process-instance",
    "/history/process-instance/count",
    "/history/task",
    "/history/task/count",
    "/history/activity-instance",
    "/history/activity-instance/count",
    "/history/variable-instance",
    "/history/variable-instance/count",
    "/external-task",
    "/external-task/count",
]
NOT_STRINGS = [["dueDate"], {"sortBy": "dueDate"}, 1, 2.5, True]


@pytest.mark.parametrize("path", POST_QUERIES)
def test_a_sort_key_or_order_that_is_no_string_is_a_400_naming_it(client, deployed, path):
    start(client, "S")  # something to sort
    for bad in NOT_STRINGS:
        for item, named in (
            ({"sortBy": bad, "sortOrder": "asc"}, "sortBy"),
            ({"sortBy": "tenantId", "sortOrder": bad}, "sortOrder"),
        ):
            r = client.post(f"/engine-rest{path}", json={"sorting": [item]}, headers=basic("olle"))
            assert r.status_code == 400, (path, item, r.json)
            assert r.json["type"] == "InvalidRequestException" and f"'{named}'" in r.json["message"]
    # The query string's and the body's top-level sortBy/sortOrder too.
    r = client.post(
        f"/engine-rest{path}", json={"sortBy": ["x"], "sortOrder": {"a": 1}}, headers=basic("olle")
    )
    assert r.status_code == 400 and "'sortBy'" in r.json["message"]


# Every body field these queries read (and a few they do not), each sent with every wrong JSON type.
FIELDS = [
    "taskId",
    "processInstanceId",
    "processInstanceIds",
    "processInstanceIdIn",
    "processDefinitionId",
    "processDefinitionKey",
    "processDefinitionKeyIn",
    "processInstanceBusinessKey",
    "processInstanceBusinessKeyLike",
    "businessKey",
    "businessKeyLike",
    "taskDefinitionKey",
    "taskDefinitionKeyIn",
    "name",
    "nameLike",
    "assignee",
    "assigneeIn",
    "assigned",
    "unassigned",
    "candidateGroup",
    "candidateGroups",
    "candidateUser",
    "includeAssignedTasks",
    "withCandidateGroups",
    "withoutCandidateGroups",
    "dueBefore",
    "dueAfter",
    "followUpBefore",
    "followUpAfter",
    "createdBefore",
    "createdAfter",
    "minPriority",
    "maxPriority",
    "priority",
    "processVariables",
    "variables",
    "variableNamesIgnoreCase",
    "variableValuesIgnoreCase",
    "finished",
    "unfinished",
    "startedBy",
    "startedBefore",
    "startedAfter",
    "finishedBefore",
    "finishedAfter",
    "taskAssignee",
    "activityInstanceId",
    "activityId",
    "activityName",
    "activityType",
    "executionId",
    "canceled",
    "completeScope",
    "variableName",
    "variableNameLike",
    "variableNameIn",
    "variableValue",
    "processInstanceIdIn",
    "externalTaskId",
    "topicName",
    "workerId",
    "locked",
    "notLocked",
    "withRetriesLeft",
    "noRetriesLeft",
    "lockExpirationAfter",
    "lockExpirationBefore",
    "activityIdIn",
    "active",
    "suspended",
    "tenantIdIn",
    "withoutTenantId",
    "deserializeValues",
    "firstResult",
    "maxResults",
    "sorting",
    "sortBy",
    "sortOrder",
    "orQueries",
]
WRONG_TYPES = [["a", 1], {"a": [1]}, 1.5, True, -1, {}]


@pytest.mark.parametrize("path", [p for p in POST_QUERIES if not p.endswith("/count")])
def test_every_wrongly_typed_body_field_is_a_client_error(client, deployed, path):
    start(client, "W", kommentar=("x", "String"))
    for name in FIELDS:
        for value in WRONG_TYPES:
            r = client.post(f"/engine-rest{path}", json={name: value}, headers=basic("olle"))
            assert r.status_code in (200, 400), (path, name, value, r.status_code, r.json)
            assert r.is_json
            if r.status_code == 400:
                assert r.json["type"] == "InvalidRequestException" and r.json["message"]


# --- DEFECT 2: a String holding timestamp text; filters in JSON bodies ------------------------------------
WINTER = "2026-01-01T10:00:00.000+01:00"  # a String in exactly the form a Date is kept in
CAMUNDA = "2026-01-01T10:00:00.000+0100"  # Camunda's own date format, as a String
SUMMER = "2026-07-01T10:00:00.000+01:00"  # the kept form, but an offset Stockholm has not in July
MEETING = "2026-05-01T13:45:00.000+0200"  # a Date


def _typed_start(client, bk: str, variables: dict) -> dict:
    r = client.post(
        "/engine-rest/process-definition/key/test_initiativ/start",
        json={"businessKey": bk, "variables": variables, "withVariablesInReturn": True},
        headers=basic("hanna"),
    )
    assert r.status_code == 200, r.json
    return r.json


def _count(client, path: str, body: dict | None = None, **params) -> int:
    if body is not None:
        r = client.post(f"/engine-rest{path}", json=body, headers=basic("hanna"))
    else:
        r = client.get(f"/engine-rest{path}", query_string=params, headers=basic("hanna"))
    assert r.status_code == 200, r.json
    return r.json["count"]


def test_a_string_that_looks_like_a_timestamp_stays_that_string(client, engine, deployed):
    started = _typed_start(
        client,
        "D2",
        {
            "ref": {"value": WINTER, "type": "String"},
            "ref3": {"value": CAMUNDA, "type": "String"},
            "summer": {"value": SUMMER, "type": "String"},
            "untyped": {"value": WINTER},
            "when": {"value": MEETING, "type": "Date"},
        },
    )
    case = started["id"]
    expected = {
        "ref": {"type": "String", "value": WINTER, "valueInfo": {}},
        "ref3": {"type": "String", "value": CAMUNDA, "valueInfo": {}},
        "summer": {"type": "String", "value": SUMMER, "valueInfo": {}},
        "untyped": {"type": "String", "value": WINTER, "valueInfo": {}},
        "when": {"type": "Date", "value": MEETING, "valueInfo": {}},
    }
    assert {k: started["variables"][k] for k in expected} == expected
    h = basic("hanna")
    r = client.get(f"/engine-rest/process-instance/{case}/variables", headers=h)
    assert {k: r.json[k] for k in expected} == expected
    assert (
        client.get(f"/engine-rest/process-instance/{case}/variables/ref", headers=h).json == expected["ref"]
    )
    tid = granska(client, case)
    r = client.get(f"/engine-rest/task/{tid}/variables", headers=h)
    assert {k: r.json[k] for k in expected} == expected
    r = client.get(
        "/engine-rest/history/variable-instance", query_string={"processInstanceId": case}, headers=h
    )
    history = {v["name"]: {k: v[k] for k in ("type", "value", "valueInfo")} for v in r.json}
    assert {k: history[k] for k in expected} == expected

    # Written anew through PUT: a Date becomes a Date, and a String again the String.
    url = f"/engine-rest/process-instance/{case}/variables/ref"
    assert client.put(url, json={"value": CAMUNDA, "type": "Date"}, headers=basic("olle")).status_code == 204
    assert client.get(url, headers=h).json == {"type": "Date", "value": CAMUNDA, "valueInfo": {}}
    assert client.put(url, json={"value": WINTER, "type": "String"}, headers=basic("olle")).status_code == 204
    assert client.get(url, headers=h).json == expected["ref"]

    # Completing the task returns them as they were written.
    r = client.post(
        f"/engine-rest/task/{tid}/complete",
        json={"variables": {**GOOD, "fragan_paverkbar": {"value": False}}, "withVariablesInReturn": True},
        headers=h,
    )
    assert r.status_code == 200 and {k: r.json[k] for k in expected} == expected


def test_a_date_kept_before_types_were_declared_still_reads_as_a_date(client, engine, deployed):
    info = engine.start_case("test_initiativ", "OLD", {"mote_tid": "2026-05-01T13:45:00.000+02:00"}, "hanna")
    r = client.get(f"/engine-rest/process-instance/{info.id}/variables/mote_tid", headers=basic("hanna"))
    assert r.json == {"type": "Date", "value": MEETING, "valueInfo": {}}


@pytest.mark.parametrize(
    "path, field, bk_field",
    [
        ("/process-instance/count", "variables", "businessKey"),
        ("/history/process-instance/count", "variables", "processInstanceBusinessKey"),
        ("/task/count", "processVariables", "processInstanceBusinessKey"),
    ],
)
def test_a_json_filter_value_compares_as_the_string_it_is_and_a_date_with_dates(
    client, deployed, path, field, bk_field
):
    _typed_start(
        client,
        "F",
        {
            "ref": {"value": WINTER, "type": "String"},
            "ref3": {"value": CAMUNDA, "type": "String"},
            "summer": {"value": SUMMER, "type": "String"},
            "when": {"value": MEETING, "type": "Date"},
        },
    )

    def n(name: str, operator: str, value) -> int:
        body = {bk_field: "F", field: [{"name": name, "operator": operator, "value": value}]}
        return _count(client, path, body)

    # Strings: found by their own text, whatever it looks like, and only by it.
    for name, text in (("ref", WINTER), ("ref3", CAMUNDA), ("summer", SUMMER)):
        assert (n(name, "eq", text), n(name, "neq", text)) == (1, 0), name
    assert n("ref", "eq", "2026-01-01T09:00:00.000Z") == 0  # the same instant, but not the same String
    assert n("ref3", "eq", WINTER) == 0
    assert n("ref3", "like", "2026-01-01T10:%") == 1
    # A Date: compared as a date, however the instant is written.
    for same in (MEETING, "2026-05-01T11:45:00.000Z", "2026-05-01T13:45:00+02:00"):
        assert (n("when", "eq", same), n("when", "neq", same)) == (1, 0), same
    assert n("when", "gt", "2026-05-01T11:44:59.000Z") == 1
    assert n("when", "gt", "2026-05-01T11:45:00.000Z") == 0
    assert n("when", "lteq", "2026-05-01T13:45:00.000+0200") == 1
    assert n("when", "lt", "2026-05-01T12:00:00.000+0000") == 1
    # A query string has no types: there the text is a date, and a String is no Date.
    get_path, get_field = path.removesuffix("/count") + "/count", field
    assert _count(client, get_path, None, **{bk_field: "F", get_field: f"when_eq_{MEETING}"}) == 1
    assert _count(client, get_path, None, **{bk_field: "F", get_field: f"ref_eq_{WINTER}"}) == 0


# --- DEFECT 3: a Date for a date form field ---------------------------------------------------------------
def test_a_date_for_a_date_form_field_reads_back_as_a_date(client, deployed):
    case = start(client, "D3")
    tid = granska(client, case)
    h = basic("hanna")
    r = client.get(
        f"/engine-rest/task/{tid}/form-variables", query_string={"variableNames": "mote"}, headers=h
    )
    assert r.json["mote"]["type"] == "Date"
    r = client.post(
        f"/engine-rest/task/{tid}/complete",
        json={
            "variables": {**GOOD, "mote": {"value": "2026-05-01T23:30:00.000+0000", "type": "Date"}},
            "withVariablesInReturn": True,
        },
        headers=h,
    )
    # The field keeps the Swedish date (2 May at 01:30 in Stockholm); the Date is its midnight there.
    midnight = {"type": "Date", "value": "2026-05-02T00:00:00.000+0200", "valueInfo": {}}
    assert r.status_code == 200 and r.json["mote"] == midnight
    r = client.get(
        "/engine-rest/history/variable-instance", query_string={"processInstanceId": case}, headers=h
    )
    [mote] = [v for v in r.json if v["name"] == "mote"]
    assert (mote["type"], mote["value"]) == ("Date", midnight["value"])


def test_a_date_only_string_for_a_date_form_field_stays_a_string(client, deployed):
    tid = granska(client, start(client, "D3b"))
    r = client.post(
        f"/engine-rest/task/{tid}/complete",
        json={
            "variables": {**GOOD, "mote": {"value": "2026-05-02", "type": "String"}},
            "withVariablesInReturn": True,
        },
        headers=basic("hanna"),
    )
    assert r.status_code == 200 and r.json["mote"] == {
        "type": "String",
        "value": "2026-05-02",
        "valueInfo": {},
    }


# --- DEFECT 4: Json and Object ------------------------------------------------------------------------------
def test_json_and_object_variables_keep_their_type(client, deployed):
    object_info = {"objectTypeName": "java.util.HashMap", "serializationDataFormat": "application/json"}
    started = _typed_start(
        client,
        "D4",
        {
            "text": {"value": '"hello"', "type": "Json"},
            "number": {"value": "42", "type": "Json"},
            "yes": {"value": "true", "type": "Json"},
            "nothing": {"value": "null", "type": "Json"},
            "doc": {"value": '{"a":1}', "type": "Json"},
            "obj": {"value": '{"a":1}', "type": "Object", "valueInfo": object_info},
            "plain": {"value": {"b": [1, 2]}, "type": "Json"},
        },
    )
    expected = {
        "text": {"type": "Json", "value": '"hello"', "valueInfo": {}},
        "number": {"type": "Json", "value": "42", "valueInfo": {}},
        "yes": {"type": "Json", "value": "true", "valueInfo": {}},
        "nothing": {"type": "Json", "value": "null", "valueInfo": {}},
        "doc": {"type": "Json", "value": '{"a":1}', "valueInfo": {}},
        "obj": {"type": "Object", "value": '{"a":1}', "valueInfo": object_info},
        "plain": {"type": "Json", "value": '{"b":[1,2]}', "valueInfo": {}},
    }
    assert {k: started["variables"][k] for k in expected} == expected
    case, h = started["id"], basic("hanna")
    for query in ({}, {"deserializeValues": "false"}):
        r = client.get(f"/engine-rest/process-instance/{case}/variables", query_string=query, headers=h)
        assert {k: r.json[k] for k in expected} == expected
    r = client.get(
        "/engine-rest/history/variable-instance", query_string={"processInstanceId": case}, headers=h
    )
    history = {v["name"]: {k: v[k] for k in ("type", "value", "valueInfo")} for v in r.json}
    assert {k: history[k] for k in expected} == expected
    # The case itself holds the parsed values (scripts and conditions read them).
    r = client.post(
        "/engine-rest/process-instance/count",
        json={"variables": [{"name": "number", "operator": "eq", "value": 42}]},
        headers=h,
    )
    assert r.json == {"count": 1}
    # Written anew as an Integer, it is an Integer again.
    url = f"/engine-rest/process-instance/{case}/variables/number"
    assert client.put(url, json={"value": 42, "type": "Integer"}, headers=basic("olle")).status_code == 204
    assert client.get(url, headers=h).json == {"type": "Integer", "value": 42, "valueInfo": {}}
    body = {"value": "{}", "type": "Object", "valueInfo": {"objectTypeName": ["java.util.HashMap"]}}
    r = client.put(url, json=body, headers=basic("olle"))
    assert r.status_code == 400 and "objectTypeName" in r.json["message"]
    # Another serialization than JSON cannot be kept.
    body = {"value": "<a/>", "type": "Object", "valueInfo": {"serializationDataFormat": "application/xml"}}
    r = client.put(url, json=body, headers=basic("olle"))
    assert r.status_code == 400 and "application/xml" in r.json["message"]


# --- DEFECT 5: deployment-activation-time ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["2030-01-01T00:00:00.000+0100", "not-a-date"])
def test_a_deployment_activation_time_is_refused(client, engine, value):
    data = {
        "deployment-name": "med aktiveringstid",
        "deployment-activation-time": value,
        "initiativ.bpmn": (io.BytesIO(fixture_bytes("initiativ.bpmn")), "initiativ.bpmn"),
    }
    r = client.post("/engine-rest/deployment/create", data=data, headers=basic("olle"))
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException"
    assert "deployment-activation-time" in r.json["message"]
    assert count(engine, Deployment) == 0
    data = {
        **data,
        "deployment-activation-time": "",
        "initiativ.bpmn": (io.BytesIO(fixture_bytes("initiativ.bpmn")), "initiativ.bpmn"),
    }
    r = client.post("/engine-rest/deployment/create", data=data, headers=basic("olle"))
    assert r.status_code == 200, r.json  # sent empty, it asks for nothing


# --- DEFECT 6: a task held by a colleague ------------------------------------------------------------------
def test_acting_on_a_colleagues_task_is_a_403_and_changes_nothing(client, engine, deployed):
    tid = granska(client, start(client, "D6"))
    assert client.post(f"/engine-rest/task/{tid}/claim", json={}, headers=basic("hanna")).status_code == 204
    before = count(engine, AuditEvent)
    k = basic("henrik")  # same candidate group as hanna
    attempts = {
        "complete": ("TASK_WORK", {"variables": GOOD}),
        "submit-form": ("TASK_WORK", {"variables": GOOD}),
        "unclaim": ("TASK_ASSIGN", {}),
        "assignee": ("TASK_ASSIGN", {"userId": "henrik"}),
    }
    for action, (permission, body) in attempts.items():
        r = client.post(f"/engine-rest/task/{tid}/{action}", json=body, headers=k)
        assert r.status_code == 403, (action, r.json)
        assert r.json["type"] == "AuthorizationException" and "hanna" in r.json["message"]
        assert r.json["userId"] == "henrik"
        assert r.json["missingAuthorizations"] == [
            {"permissionName": permission, "resourceName": "Task", "resourceId": tid}
        ]
    r = client.post(f"/engine-rest/task/{tid}/assignee", json={"userId": None}, headers=k)
    assert r.status_code == 403
    assert count(engine, AuditEvent) == before
    with engine.session() as s:
        task = s.get(UserTask, tid)
        assert (task.state, task.assignee) == ("open", "hanna")
    # Claiming it stays Camunda's documented TaskAlreadyClaimedException.
    r = client.post(f"/engine-rest/task/{tid}/claim", json={}, headers=k)
    assert r.status_code == 500 and r.json["type"] == "TaskAlreadyClaimedException"


def test_a_colleagues_task_through_pycamunda_is_forbidden_not_a_server_error(server, client, deployed):
    tid = granska(client, start(client, "D6p"))
    assert client.post(f"/engine-rest/task/{tid}/claim", json={}, headers=basic("hanna")).status_code == 204
    complete = pycamunda.task.Complete(server, tid)
    complete.auth = ("henrik", PASSWORD)
    with pytest.raises(pycamunda.Forbidden):
        complete()


# --- DEFECT 8: Camunda's harmless sort keys -----------------------------------------------------------------
def _ids(client, path: str, user: str = "hanna", **params) -> list[str]:
    r = client.get(f"/engine-rest{path}", query_string=params, headers=basic(user))
    assert r.status_code == 200, (path, params, r.json)
    return [x["id"] for x in r.json]


def test_camunda_s_harmless_sort_keys_are_accepted(client, engine, deployed):
    clock.set(T0)
    quick, slow, running = (start(client, bk) for bk in ("Q", "L", "R"))
    clock.set(T0 + timedelta(hours=1))
    done = {**GOOD, "fragan_paverkbar": {"value": False, "type": "Boolean"}}
    r = client.post(
        f"/engine-rest/task/{granska(client, quick)}/complete",
        json={"variables": done},
        headers=basic("hanna"),
    )
    assert r.status_code == 204
    clock.set(T0 + timedelta(hours=5))
    r = client.post(
        f"/engine-rest/task/{granska(client, slow)}/complete",
        json={"variables": done},
        headers=basic("hanna"),
    )
    assert r.status_code == 204
    # duration: a finished instance by how long it ran; a running one (no duration) last either way.
    for order, expected in (("asc", [quick, slow, running]), ("desc", [slow, quick, running])):
        ids = _ids(client, "/history/process-instance", sortBy="duration", sortOrder=order)
        assert ids == expected, order
        r = client.post(
            "/engine-rest/history/process-instance",
            json={"sorting": [{"sortBy": "duration", "sortOrder": order}]},
            headers=basic("hanna"),
        )
        assert [x["id"] for x in r.json] == expected
        tasks = client.get(
            "/engine-rest/history/task",
            query_string={"sortBy": "duration", "sortOrder": order, "taskDefinitionKey": "Granska"},
            headers=basic("hanna"),
        ).json
        assert [t["processInstanceId"] for t in tasks] == expected
        acts = client.get(
            "/engine-rest/history/activity-instance",
            query_string={"sortBy": "duration", "sortOrder": order, "activityId": "Granska"},
            headers=basic("hanna"),
        ).json
        assert [a["processInstanceId"] for a in acts] == expected
    r = client.get(
        "/engine-rest/history/task",
        query_string={"sortBy": "activityInstanceId", "sortOrder": "asc", "taskDefinitionKey": "Granska"},
        headers=basic("hanna"),
    )
    assert [t["activityInstanceId"] for t in r.json] == sorted(t["activityInstanceId"] for t in r.json)
    # tenantId (always null) everywhere, and the other always-null keys: accepted, order unchanged.
    for path, key, then in (
        ("/history/process-instance", "tenantId", "instanceId"),
        ("/process-instance", "tenantId", "instanceId"),
        ("/task", "tenantId", "id"),
        ("/task", "lastUpdated", "id"),
        ("/history/task", "tenantId", "taskId"),
        ("/history/task", "owner", "taskId"),
        ("/history/activity-instance", "tenantId", "activityInstanceId"),
        ("/history/variable-instance", "tenantId", "variableName"),
        ("/external-task", "tenantId", "id"),
    ):
        h = basic("olle" if path == "/external-task" else "hanna")
        alone = {"sorting": [{"sortBy": then, "sortOrder": "desc"}]}
        plain = client.post(f"/engine-rest{path}", json=alone, headers=h)
        both = {"sorting": [{"sortBy": key, "sortOrder": "asc"}, *alone["sorting"]]}
        sorted_too = client.post(f"/engine-rest{path}", json=both, headers=h)
        assert plain.status_code == sorted_too.status_code == 200, (path, key, sorted_too.json)
        assert sorted_too.json == plain.json, (path, key)
        r = client.get(f"/engine-rest{path}", query_string={"sortBy": key, "sortOrder": "desc"}, headers=h)
        assert r.status_code == 200, (path, key, r.json)
    for path in ("/process-definition", "/deployment", "/history/user-operation", "/incident"):
        r = client.get(
            f"/engine-rest{path}",
            query_string={"sortBy": "tenantId", "sortOrder": "asc"},
            headers=basic("olle"),
        )
        assert r.status_code == 200, (path, r.json)
    # What Delaktig does not keep stays refused rather than sorted as if it did.
    for key in ("versionTag", "category"):
        r = client.get(
            "/engine-rest/process-definition",
            query_string={"sortBy": key, "sortOrder": "asc"},
            headers=basic("olle"),
        )
        assert r.status_code == 400 and key in r.json["message"]


# --- DEFECT 11: 204 without a Content-Type --------------------------------------------------------------------
def test_a_204_has_no_content_type_and_no_body(client, server, deployed):
    case = start(client, "N")
    tid = granska(client, case)
    h = basic("hanna")
    answers = [
        client.post(f"/engine-rest/task/{tid}/claim", json={}, headers=h),
        client.post(f"/engine-rest/task/{tid}/unclaim", headers=h),
        client.put(
            f"/engine-rest/task/{tid}/variables/kommentar", json={"value": "x", "type": "String"}, headers=h
        ),
        client.delete(f"/engine-rest/task/{tid}/localVariables/inget", headers=h),
    ]
    # Through a real HTTP server too: nothing on the way adds one.
    answers_http = [
        requests.post(f"{server}/task/{tid}/claim", json={}, auth=("hanna", PASSWORD)),
        requests.post(f"{server}/task/{tid}/complete", json={"variables": GOOD}, auth=("hanna", PASSWORD)),
    ]
    for r in answers:
        assert r.status_code == 204 and "Content-Type" not in r.headers and r.data == b"", r.headers
    for r in answers_http:
        assert r.status_code == 204 and "Content-Type" not in r.headers and r.content == b"", r.headers
    r = requests.options(f"{server}/task", auth=("hanna", PASSWORD))
    assert r.status_code == 200 and "Content-Type" not in r.headers and "POST" in r.headers["Allow"]
    # Other answers keep theirs.
    r = client.get(f"/engine-rest/process-instance/{case}", headers=h)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"

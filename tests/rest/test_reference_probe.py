"""The API compared with Camunda 7.22's REST reference, endpoint by endpoint: the POST forms of the
queries and counts, task variables by name and the task form, the start and submit-form bodies, the
fields Camunda's DTOs have, history's filters and sort keys — and bodies that ask for something Delaktig
cannot do (or misspell a field) are a 400 that names it, with nothing changed. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import clock
from engine.models import Case
from tests.rest.conftest import basic
from tests.rest.test_bad_input import assert_camunda_error
from tests.rest.test_tasks import GOOD, granska, start, tasks

START = "/engine-rest/process-definition/key/test_initiativ/start"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def cases(engine) -> int:
    with engine.session() as s:
        return s.query(Case).count()


def _to_decision(client, bk: str) -> str:
    """A case past Granska (by hanna) and Beslut (by nils), waiting for the message svar_mottaget."""
    case_id = start(client, bk)
    task = granska(client, case_id)
    r = client.post(f"/engine-rest/task/{task}/complete", json={"variables": GOOD}, headers=basic("hanna"))
    assert r.status_code == 204, r.json
    (beslut,) = tasks(client, "nils", processInstanceId=case_id)
    body = {"variables": {"beslut": {"value": "bifall", "type": "String"}}}
    r = client.post(f"/engine-rest/task/{beslut['id']}/complete", json=body, headers=basic("nils"))
    assert r.status_code == 204, r.json
    return case_id


# --- POST forms of queries and counts ---------------------------------------------------------------
@pytest.mark.parametrize(
    "path, body, expected",
    [
        ("/engine-rest/process-instance/count", {"businessKey": "B"}, {"count": 1}),
        ("/engine-rest/history/process-instance/count", {"processInstanceBusinessKey": "B"}, {"count": 1}),
        ("/engine-rest/history/task/count", {"taskDefinitionKey": "Granska"}, {"count": 2}),
        ("/engine-rest/history/activity-instance/count", {"activityType": "userTask"}, {"count": 2}),
    ],
)
def test_post_counts_answer_as_their_get(client, deployed, path, body, expected):
    start(client, "A")
    start(client, "B")
    r = client.post(path, json=body, headers=basic("hanna"))
    assert r.status_code == 200 and r.json == expected, r.json
    get = client.get(path, query_string=body, headers=basic("hanna"))
    assert get.json == expected
    # A filter Delaktig does not offer is refused in the body as in the query string.
    assert_camunda_error(client.post(path, json={**body, "tenantIdIn": ["x"]}, headers=basic("hanna")), 400)


def test_post_history_task_and_activity_queries_sort_and_page(client, deployed):
    with clock.frozen(T0):
        a = start(client, "A")
    with clock.frozen(T0 + timedelta(hours=1)):
        b = start(client, "B")
    h = basic("hanna")
    body = {"taskDefinitionKey": "Granska", "sorting": [{"sortBy": "startTime", "sortOrder": "desc"}]}
    r = client.post("/engine-rest/history/task", json=body, headers=h)
    assert r.status_code == 200 and [t["processInstanceId"] for t in r.json] == [b, a]
    r = client.post("/engine-rest/history/task", json={**body, "maxResults": 1, "firstResult": 1}, headers=h)
    assert [t["processInstanceId"] for t in r.json] == [a]
    body = {"processInstanceId": b, "sorting": [{"sortBy": "occurrence", "sortOrder": "asc"}]}
    r = client.post("/engine-rest/history/activity-instance", json=body, headers=h)
    assert r.status_code == 200 and [x["activityType"] for x in r.json] == ["startEvent", "userTask"]
    r = client.post("/engine-rest/history/activity-instance", json={"sorting": "startTime"}, headers=h)
    assert_camunda_error(r, 400)


# --- tasks -------------------------------------------------------------------------------------------
def test_a_task_variable_by_name_and_the_task_form(client, deployed):
    case_id = start(client, "V-1", antal=(7, "Long"), kommentar=("hej", "String"))
    task = granska(client, case_id)
    h = basic("hanna")
    r = client.get(f"/engine-rest/task/{task}/variables/kommentar", headers=h)
    assert r.status_code == 200 and r.json == {"type": "String", "value": "hej", "valueInfo": {}}
    assert client.get(f"/engine-rest/task/{task}/variables/antal", headers=h).json["value"] == 7
    r = client.get(f"/engine-rest/task/{task}/variables/finns_inte", headers=h)
    assert_camunda_error(r, 404)
    assert r.json["message"] == "task variable with name finns_inte does not exist"
    # Another role's task: Camunda's 403, its variable not shown.
    r = client.get(f"/engine-rest/task/{task}/variables/kommentar", headers=basic("nils"))
    assert_camunda_error(r, 403, "AuthorizationException")
    r = client.get(f"/engine-rest/task/{task}/form", headers=h)
    assert r.status_code == 200 and r.json == {"key": None, "contextPath": None, "camundaFormRef": None}
    assert_camunda_error(client.get("/engine-rest/task/nope/form", headers=h), 404)


@pytest.mark.parametrize(
    "body, named",
    [
        ({"variables": GOOD, "variablesInReturn": True}, "variablesInReturn"),  # a typo, not ignored
        ({"variables": GOOD, "withVariablesInReturn": "ja"}, "withVariablesInReturn"),
        ({"variabels": GOOD}, "variabels"),
    ],
)
def test_a_completion_with_a_field_camunda_does_not_have_changes_nothing(client, deployed, body, named):
    case_id = start(client, "C-1")
    task = granska(client, case_id)
    for verb in ("complete", "submit-form"):
        r = client.post(f"/engine-rest/task/{task}/{verb}", json=body, headers=basic("hanna"))
        assert_camunda_error(r, 400)
        assert named in r.json["message"]
    assert granska(client, case_id) == task  # still open


def test_with_variables_in_return_as_a_string_is_honoured(client, deployed):
    """Camunda's Jackson reads "true" as true: a client sending the string gets the variables."""
    task = granska(client, start(client, "C-2"))
    body = {"variables": GOOD, "withVariablesInReturn": "true"}
    r = client.post(f"/engine-rest/task/{task}/complete", json=body, headers=basic("hanna"))
    assert r.status_code == 200 and r.json["kommentar"] == {
        "type": "String",
        "value": "Påverkbar.",
        "valueInfo": {},
    }


def test_claim_and_assignee_bodies_are_checked(client, deployed):
    task = granska(client, start(client, "K-1"))
    h = basic("hanna")
    for path, body in (
        ("claim", {"userId": 5}),
        ("claim", {"user": "hanna"}),
        ("assignee", {"userId": "hanna", "owner": "henrik"}),
        ("assignee", {"userId": ["hanna"]}),
    ):
        r = client.post(f"/engine-rest/task/{task}/{path}", json=body, headers=h)
        assert_camunda_error(r, 400)
    assert client.get(f"/engine-rest/task/{task}", headers=h).json["assignee"] is None
    assert (
        client.post(f"/engine-rest/task/{task}/claim", json={"userId": "hanna"}, headers=h).status_code == 204
    )
    assert client.get(f"/engine-rest/task/{task}", headers=h).json["assignee"] == "hanna"


# --- starting a case ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, named",
    [
        (
            {"startInstructions": [{"type": "startBeforeActivity", "activityId": "Beslut"}]},
            "startInstructions",
        ),
        ({"caseInstanceId": "c-1"}, "caseInstanceId"),
        ({"variablesInReturn": True}, "variablesInReturn"),
        ({"businesKey": "S-1"}, "businesKey"),
        ({"withVariablesInReturn": 1}, "withVariablesInReturn"),
        ({"skipCustomListeners": "ja"}, "skipCustomListeners"),
    ],
)
def test_a_start_that_cannot_be_honoured_starts_nothing(client, engine, deployed, body, named):
    """A case always begins at its start event: start instructions would otherwise be dropped and the case
    begin somewhere else than asked."""
    r = client.post(START, json={"businessKey": "S-1", **body}, headers=basic("hanna"))
    assert_camunda_error(r, 400)
    assert named in r.json["message"]
    assert cases(engine) == 0


def test_a_start_with_camunda_s_empty_fields_still_starts(client, engine, deployed):
    """Generated clients send every field of StartProcessInstanceDto; empty, they change nothing."""
    body = {
        "businessKey": "S-2",
        "variables": {"antal": {"value": 3, "type": "Long"}},
        "caseInstanceId": None,
        "startInstructions": [],
        "skipCustomListeners": False,
        "skipIoMappings": "true",
        "withVariablesInReturn": "true",
    }
    r = client.post(START, json=body, headers=basic("hanna"))
    assert r.status_code == 200, r.json
    assert r.json["businessKey"] == "S-2" and r.json["variables"]["antal"]["value"] == 3
    assert cases(engine) == 1


def test_submit_form_on_a_definition_starts_a_case(client, engine, deployed):
    h = basic("hanna")
    body = {"businessKey": "SF-1", "variables": {"kommentar": {"value": "via formulär", "type": "String"}}}
    r = client.post("/engine-rest/process-definition/key/test_initiativ/submit-form", json=body, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["businessKey"] == "SF-1" and r.json["ended"] is False and "variables" not in r.json
    variables = client.get(f"/engine-rest/process-instance/{r.json['id']}/variables", headers=h).json
    assert variables["kommentar"]["value"] == "via formulär"
    by_id = f"/engine-rest/process-definition/{r.json['definitionId']}/submit-form"
    assert client.post(by_id, json={}, headers=h).status_code == 200
    # StartProcessInstanceFormDto has no withVariablesInReturn; an unknown definition is a 404.
    assert_camunda_error(client.post(by_id, json={"withVariablesInReturn": True}, headers=h), 400)
    r = client.post("/engine-rest/process-definition/finns:1:x/submit-form", json={}, headers=h)
    assert_camunda_error(r, 404)
    r = client.post("/engine-rest/process-definition/key/annan/submit-form", json={}, headers=h)
    assert_camunda_error(r, 404, "RestException")  # getProcessDefinitionByKey, as Camunda 7.22
    assert cases(engine) == 2


# --- messages --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, named",
    [
        ({"startMessagesOnly": True}, "startMessagesOnly"),
        ({"processVariablesToTriggeredScope": {"x": {"value": 1}}}, "processVariablesToTriggeredScope"),
        ({"resultEnabeld": True}, "resultEnabeld"),
        ({"variablesInResultEnabled": "ja"}, "variablesInResultEnabled"),
    ],
)
def test_a_message_that_cannot_be_honoured_is_not_delivered(client, deployed, extra, named):
    case_id = _to_decision(client, "M-1")
    body = {"messageName": "svar_mottaget", "businessKey": "M-1", **extra}
    r = client.post("/engine-rest/message", json=body, headers=basic("nils"))
    assert_camunda_error(r, 400)
    assert named in r.json["message"]
    r = client.get(f"/engine-rest/history/process-instance/{case_id}", headers=basic("nils"))
    assert r.json["state"] == "ACTIVE"  # still waiting


def test_message_result_flags_as_strings_are_honoured(client, deployed):
    case_id = _to_decision(client, "M-2")
    body = {
        "messageName": "svar_mottaget",
        "businessKey": "M-2",
        "resultEnabled": "true",
        "variablesInResultEnabled": "true",
        "withoutTenantId": True,
        "tenantId": None,
    }
    r = client.post("/engine-rest/message", json=body, headers=basic("nils"))
    assert r.status_code == 200, r.json
    (result,) = r.json
    assert result["resultType"] == "Execution" and result["execution"]["processInstanceId"] == case_id
    assert result["variables"]["beslut"] == {"type": "String", "value": "bifall", "valueInfo": {}}


# --- history ------------------------------------------------------------------------------------------------
def test_historic_process_instances_have_every_field_and_sort_by_definition(client, deployed):
    start(client, "H-1")
    r = client.get(
        "/engine-rest/history/process-instance",
        query_string={"sortBy": "definitionVersion", "sortOrder": "desc"},
        headers=basic("hanna"),
    )
    assert r.status_code == 200
    (instance,) = r.json
    assert instance["restartedProcessInstanceId"] is None  # Camunda 7.21+'s field, present as null
    r = client.get(
        "/engine-rest/history/process-instance",
        query_string={"sortBy": "definitionName", "sortOrder": "asc"},
        headers=basic("hanna"),
    )
    assert r.status_code == 200 and len(r.json) == 1
    # Runtime instances sort by what Camunda's runtime query offers; definition names are history's.
    r = client.get(
        "/engine-rest/process-instance",
        query_string={"sortBy": "definitionName", "sortOrder": "asc"},
        headers=basic("hanna"),
    )
    assert_camunda_error(r, 400)


def test_activity_instance_filters_and_one_by_id(client, engine, deployed):
    with clock.frozen(T0):
        a = start(client, "A")
    with clock.frozen(T0 + timedelta(days=1)):
        b = start(client, "B")
    h = basic("hanna")

    def ids(**query):
        r = client.get("/engine-rest/history/activity-instance", query_string=query, headers=h)
        assert r.status_code == 200, r.json
        return [(x["processInstanceId"], x["activityId"]) for x in r.json]

    assert ids(executionId=b, sortBy="occurrence", sortOrder="asc") == [(b, "StartEvent_1"), (b, "Granska")]
    assert ids(executionId=b, processInstanceId=a) == []
    assert ids(activityName="Granska initiativet", sortBy="startTime", sortOrder="asc") == [
        (a, "Granska"),
        (b, "Granska"),
    ]
    after = (T0 + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert {p for p, _ in ids(startedAfter=after)} == {b}
    assert {p for p, _ in ids(startedBefore=after)} == {a}
    assert ids(canceled="true") == []
    r = client.delete(f"/engine-rest/process-instance/{a}", headers=basic("olle"))
    assert r.status_code == 204
    assert ids(canceled="true") == [(a, "Granska")]
    definition = client.get("/engine-rest/process-definition", headers=h).json[0]["id"]
    assert len(ids(processDefinitionId=definition)) == 4
    assert ids(processDefinitionId="annan:1:x") == []
    assert_camunda_error(
        client.get("/engine-rest/history/activity-instance", query_string={"canceled": "kanske"}, headers=h),
        400,
    )

    (granska_b,) = [
        x
        for x in client.get(
            "/engine-rest/history/activity-instance", query_string={"processInstanceId": b}, headers=h
        ).json
        if x["activityType"] == "userTask"
    ]
    r = client.get(f"/engine-rest/history/activity-instance/{granska_b['id']}", headers=h)
    assert r.status_code == 200 and r.json == granska_b
    assert ids(activityInstanceId=granska_b["id"]) == [(b, "Granska")]
    assert_camunda_error(client.get("/engine-rest/history/activity-instance/Granska:nope", headers=h), 404)
    # Nils (namnd) may not read a case still at hanna's step: as absent as a missing one.
    r = client.get(f"/engine-rest/history/activity-instance/{granska_b['id']}", headers=basic("nils"))
    assert_camunda_error(r, 404)


def test_history_tasks_sort_by_execution_and_description(client, deployed):
    a = start(client, "A")
    b = start(client, "B")
    h = basic("hanna")
    for key in ("executionId", "taskDescription"):
        r = client.get(
            "/engine-rest/history/task", query_string={"sortBy": key, "sortOrder": "desc"}, headers=h
        )
        assert r.status_code == 200 and len(r.json) == 2, r.json
    r = client.get(
        "/engine-rest/history/task", query_string={"sortBy": "executionId", "sortOrder": "asc"}, headers=h
    )
    assert [t["executionId"] for t in r.json] == sorted([a, b])

"""Hostile and malformed input over the API: each gets Camunda's 4xx JSON error naming what is wrong,
and changes nothing — never a 500, never an HTML page, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import io

import pytest

from engine.models import Case, Deployment, ProcessDefinition
from tests.conftest import fixture_bytes
from tests.rest.conftest import basic
from tests.rest.test_tasks import granska, start

START = "/engine-rest/process-definition/key/test_initiativ/start"


def assert_camunda_error(r, status: int, type_: str | None = "InvalidRequestException"):
    assert r.status_code == status, (r.status_code, r.data[:300])
    assert r.mimetype == "application/json" and r.json["message"], r.data[:300]
    if type_:
        assert r.json["type"] == type_, r.json


def cases(engine) -> int:
    with engine.session() as s:
        return s.query(Case).count()


@pytest.mark.parametrize(
    "body",
    [
        {"businessKey": "x" * 201},
        {"businessKey": "a\u0000b"},
        {"variables": {"d": {"value": "9999-12-31T23:59:59.000-0100", "type": "Date"}}},
        {"variables": {"d": {"value": "0001-01-01T00:00:00.000+0100", "type": "Date"}}},
        {"variables": {"v": {"value": "{}", "type": "Object", "valueInfo": "x"}}},
        {"variables": {"v": {"value": "9" * 5000, "type": "Integer"}}},
        {"variables": {"v": {"value": "9" * 30, "type": "Long"}}},
        {"variables": {"v": {"value": "NaN", "type": "Double"}}},
        {"variables": {"v": {"value": "Infinity", "type": "Double"}}},
        {"variables": {"v": {"value": "1e999", "type": "Double"}}},
    ],
)
def test_values_that_cannot_be_kept_are_refused(client, engine, deployed, body):
    r = client.post(START, json=body, headers=basic("hanna"))
    assert_camunda_error(r, 400)
    assert len(r.json["message"]) < 600  # the offending value is not echoed whole
    assert cases(engine) == 0


def test_nul_characters_are_refused_alike_on_both_databases(client, engine, deployed):
    """PostgreSQL cannot keep or compare text with NUL in it, SQLite would silently keep it: refused at the
    door (webhooks.guard), in paths, query strings and JSON bodies, before anything is looked up."""
    h = basic("hanna")
    for path in (
        "/engine-rest/task/a%00b",
        "/engine-rest/process-instance/a%00b",
        "/engine-rest/history/process-instance/a%00b",
    ):
        assert_camunda_error(client.get(path, headers=h), 400)
    assert_camunda_error(client.get("/engine-rest/task", query_string={"name": "a\u0000b"}, headers=h), 400)
    r = client.post("/engine-rest/message", json={"messageName": "a\u0000b"}, headers=h)
    assert_camunda_error(r, 400)
    assert "messageName" in r.json["message"]
    r = client.post(START, json={"variables": {"x": {"value": "a\u0000b", "type": "String"}}}, headers=h)
    assert_camunda_error(r, 400)
    assert "variables.x.value" in r.json["message"]
    assert cases(engine) == 0


@pytest.mark.parametrize(
    "query",
    [
        {"maxResults": "99999999999999999999"},
        {"firstResult": "9223372036854775808"},
        {"maxResults": "-1"},
        {"dueBefore": "0001-01-01T00:00:00.000+0100"},
        {"dueAfter": "9999-12-31T23:59:59.000-0100"},
        {"minPriority": "99999999999"},
    ],
)
def test_query_parameters_out_of_range(client, deployed, query):
    r = client.get("/engine-rest/task", query_string=query, headers=basic("hanna"))
    assert_camunda_error(r, 400)
    assert next(iter(query)) in r.json["message"]


def test_query_bodies_out_of_range(client, deployed):
    for body in ({"maxResults": 2**70}, {"maxResults": 1.5}, {"firstResult": True}):
        assert_camunda_error(client.post("/engine-rest/task", json=body, headers=basic("hanna")), 400)
    assert (
        client.post("/engine-rest/task", json={"maxResults": 2.0}, headers=basic("hanna")).status_code == 200
    )


def test_message_flags_must_be_booleans(client, engine, deployed):
    r = client.post(
        "/engine-rest/message", json={"messageName": "svar_mottaget", "all": "yes"}, headers=basic("hanna")
    )
    assert_camunda_error(r, 400)
    assert "'all'" in r.json["message"]


def test_unknown_paths_and_methods_answer_in_camunda_s_shape(client):
    h = basic("hanna")
    assert_camunda_error(client.get("/engine-rest/finns-inte", headers=h), 404)
    assert_camunda_error(client.get("/engine-rest/task/a%2Fb", headers=h), 404)
    assert_camunda_error(client.put("/engine-rest/version", headers=h), 405)


def _deploy(client, *files):
    data = {"deployment-name": "prov", "enable-duplicate-filtering": "true"}
    for name, content in files:  # one file part per diagram, named by its file name (as Modeler does)
        data[name] = (io.BytesIO(content), name)
    return client.post("/engine-rest/deployment/create", data=data, headers=basic("olle"))


@pytest.mark.parametrize(
    "content", [b"<broken", b"", b"<x/>", b"\x00\x01", fixture_bytes("initiativ.bpmn")[:500]]
)
def test_a_diagram_that_is_not_xml_is_a_parse_exception(client, engine, content):
    r = _deploy(client, ("trasig.bpmn", content))
    assert_camunda_error(r, 400, "ParseException")
    assert r.json["message"].startswith("ENGINE-09005 Could not parse BPMN process.")
    assert r.json["details"]["trasig.bpmn"]["errors"]
    with engine.session() as s:
        assert s.query(Deployment).count() == 0


def test_several_diagrams_are_one_deployment(client, engine):
    r = _deploy(
        client,
        ("initiativ.bpmn", fixture_bytes("initiativ.bpmn")),
        ("synpunkt.bpmn", fixture_bytes("message_start.bpmn")),
    )
    assert r.status_code == 200, r.json
    keys = sorted(d["key"] for d in r.json["deployedProcessDefinitions"].values())
    assert keys == ["synpunkt", "test_initiativ"]
    assert {d["deploymentId"] for d in r.json["deployedProcessDefinitions"].values()} == {r.json["id"]}
    resources = client.get(f"/engine-rest/deployment/{r.json['id']}/resources", headers=basic("olle")).json
    assert sorted(x["name"] for x in resources) == ["initiativ.bpmn", "synpunkt.bpmn"]
    # Unchanged, with duplicate filtering: nothing new; one of the two changed: a deployment of that one.
    again = _deploy(
        client,
        ("initiativ.bpmn", fixture_bytes("initiativ.bpmn")),
        ("synpunkt.bpmn", fixture_bytes("message_start.bpmn")),
    )
    assert again.status_code == 200 and again.json["id"] == r.json["id"]
    changed = fixture_bytes("message_start.bpmn").replace(b'name="Synpunkt"', b'name="Synpunkt 2"')
    third = _deploy(client, ("initiativ.bpmn", fixture_bytes("initiativ.bpmn")), ("synpunkt.bpmn", changed))
    assert third.status_code == 200 and third.json["id"] != r.json["id"]
    versions = {d["key"]: d["version"] for d in third.json["deployedProcessDefinitions"].values()}
    assert versions == {"synpunkt": 2, "test_initiativ": 1}
    with engine.session() as s:
        assert s.query(Deployment).count() == 2


def test_one_process_key_in_two_files_is_refused(client, engine):
    r = _deploy(
        client, ("a.bpmn", fixture_bytes("initiativ.bpmn")), ("b.bpmn", fixture_bytes("initiativ.bpmn"))
    )
    assert_camunda_error(r, 400, "ParseException")
    assert "test_initiativ" in r.json["message"]
    with engine.session() as s:
        assert s.query(ProcessDefinition).count() == 0


def test_names_too_long_for_the_tables_are_refused_at_deploy(client, engine):
    xml = fixture_bytes("initiativ.bpmn").replace(
        b'name="Granska initiativet"', b'name="' + b"G" * 301 + b'"'
    )
    r = _deploy(client, ("lang.bpmn", xml))
    assert_camunda_error(r, 400, "ParseException")
    assert r.json["details"]["lang.bpmn"]["errors"][0]["mainElementId"] == "Granska"


def test_a_completion_with_an_unstorable_value_changes_nothing(client, engine, deployed):
    case_id = start(client, "K-1")
    task = granska(client, case_id)
    bad = {
        "variables": {
            "kommentar": {
                "value": "a\u0000b" if engine.dialect == "postgresql" else "x" * 10,
                "type": "String",
            },
            "antal": {"value": "1" * 40, "type": "Long"},
        }
    }
    assert_camunda_error(
        client.post(f"/engine-rest/task/{task}/complete", json=bad, headers=basic("hanna")), 400
    )
    assert granska(client, case_id) == task  # still open


def test_filters_delaktig_does_not_offer_are_refused_not_ignored(client, deployed):
    """Answering as if an unknown filter were not there would return rows the client asked to leave out."""
    start(client, "F-1")
    h = basic("hanna")
    for path, query in (
        ("/engine-rest/task", {"caseInstanceVariables": "x_eq_1"}),
        ("/engine-rest/task", {"tenantIdIn": "kommun_a"}),
        ("/engine-rest/task", {"suspended": "true"}),
        ("/engine-rest/task/count", {"assigneeLike": "%a%"}),
        ("/engine-rest/process-instance", {"variableNamesLike": "x"}),
        ("/engine-rest/history/task", {"taskVariables": "x_eq_1"}),
        ("/engine-rest/deployment", {"nameNotLike": "x"}),
    ):
        r = client.get(path, query_string=query, headers=h)
        assert_camunda_error(r, 400)
        assert next(iter(query)) in r.json["message"], r.json
    r = client.post(
        "/engine-rest/task",
        json={"taskVariables": [{"name": "x", "operator": "eq", "value": 1}]},
        headers=h,
    )
    assert_camunda_error(r, 400)
    r = client.post("/engine-rest/task", json={"orQueries": [{"name": "x"}]}, headers=h)
    assert_camunda_error(r, 400)
    # What is true of every task here, and a cache buster, change nothing.
    for query in (
        {"active": "true"},
        {"suspended": "false"},
        {"withoutTenantId": "true"},
        {"_": "1733212345"},
    ):
        r = client.get("/engine-rest/task", query_string=query, headers=h)
        assert r.status_code == 200 and len(r.json) == 1, (query, r.json)


def test_empty_filters_are_no_filters(client, deployed):
    """Some clients send every filter, the unused ones empty: those change nothing and are not refused."""
    start(client, "E-1")
    body = {"processVariables": [], "orQueries": [], "tenantIdIn": None, "taskVariables": {}}
    r = client.post("/engine-rest/task", json=body, headers=basic("hanna"))
    assert r.status_code == 200 and len(r.json) == 1, r.json


def test_a_start_that_is_not_json_is_refused_not_started_empty(client, engine, deployed):
    r = client.post(START, data={"businessKey": "F-1"}, headers=basic("hanna"))  # a form post
    assert_camunda_error(r, 415, "NotSupportedException")
    assert cases(engine) == 0
    # Modeler's empty start dialog (JSON with nulls), and no body at all, still start a case.
    assert (
        client.post(START, json={"businessKey": None, "variables": None}, headers=basic("hanna")).status_code
        == 200
    )
    assert client.post(START, headers=basic("hanna")).status_code == 200


def test_tenants_are_refused_at_deploy_not_half_kept(client, engine):
    data = {
        "deployment-name": "prov",
        "tenant-id": "kommun-a",
        "x.bpmn": (io.BytesIO(fixture_bytes("initiativ.bpmn")), "x.bpmn"),
    }
    r = client.post("/engine-rest/deployment/create", data=data, headers=basic("olle"))
    assert_camunda_error(r, 400)
    assert "tenant" in r.json["message"]
    with engine.session() as s:
        assert s.query(Deployment).count() == 0


def test_an_endpoint_delaktig_does_not_offer_says_so(client):
    r = client.post("/engine-rest/job/some-job/retries", json={"retries": 1}, headers=basic("hanna"))
    assert_camunda_error(r, 404)
    assert "does not offer" in r.json["message"] and "jobs" in r.json["message"]


def test_refusals_carry_camunda_s_authorization_details(client, engine, deployed):
    engine.add_user("rollos", "hemligt123", [])
    r = client.post(START, json={}, headers=basic("rollos"))
    assert_camunda_error(r, 403, "AuthorizationException")
    assert r.json["userId"] == "rollos"
    assert r.json["missingAuthorizations"] == [
        {
            "permissionName": "CREATE_INSTANCE",
            "resourceName": "ProcessDefinition",
            "resourceId": "test_initiativ",
        }
    ]

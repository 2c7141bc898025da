"""External tasks over /engine-rest/external-task, with a real Camunda 7 worker library from PyPI
(camunda-external-task-client-python3, unmodified) against a real HTTP server, and by hand for what
that library does not send: locks held by other workers, retries running out, business errors nobody
catches, long polling, rights, queries."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from camunda.client.external_task_client import ExternalTaskClient
from camunda.external_task.external_task_worker import ExternalTaskWorker

from engine import clock
from engine.models import AuditEvent, Case, ExternalTask, UserTask
from tests.conftest import count, fixture_bytes
from tests.rest.conftest import PASSWORD, basic

WORKER = {
    "auth_basic": {"username": "ina", "password": PASSWORD},
    "asyncResponseTimeout": 0,
    "sleepSeconds": 0,
}


@pytest.fixture
def arkiv(engine):
    engine.add_user("ina", PASSWORD, ["integration"], email="ina@example.se")
    (definition,) = engine.deploy(fixture_bytes("external_task.bpmn"), "external_task.bpmn", "olle")
    return definition


def start(client, business_key: str, prio: int = 1, **variables) -> str:
    body = {
        "businessKey": business_key,
        "variables": {
            "prio": {"value": prio, "type": "Long"},
            **{k: {"value": v, "type": "String"} for k, v in variables.items()},
        },
    }
    r = client.post("/engine-rest/process-definition/key/arkivering/start", json=body, headers=basic("olle"))
    assert r.status_code == 200, r.json
    return r.json["id"]


def fetch(client, worker: str = "w1", user: str = "ina", **extra):
    topic = {"topicName": "arkivera", "lockDuration": 60_000, **extra.pop("topic", {})}
    body = {"workerId": worker, "maxTasks": 10, "topics": [topic], **extra}
    return client.post("/engine-rest/external-task/fetchAndLock", json=body, headers=basic(user))


def post(client, path: str, body: dict | None = None, user: str = "ina"):
    return client.post(f"/engine-rest/external-task/{path}", json=body or {}, headers=basic(user))


def case_status(engine, case_id: str) -> str:
    with engine.session() as s:
        return s.get(Case, case_id).status


def test_real_worker_library_fetches_and_completes(server, client, engine, arkiv):
    case_id = start(client, "KS-2026-17", prio=5, diarienr="KS 2026/17")
    seen = []

    def handle(task):
        seen.append((task.get_topic_name(), task.get_variable("diarienr"), task.get_business_key()))
        return task.complete({"arkiv_id": "EA-991", "arkiverad": True})

    worker = ExternalTaskWorker(worker_id="arkivbryggan", base_url=server, config=WORKER)
    worker.fetch_and_execute("arkivera", handle)

    assert seen == [("arkivera", "KS 2026/17", "KS-2026-17")]
    assert case_status(engine, case_id) == "completed"
    r = client.get(
        f"/engine-rest/history/variable-instance?processInstanceId={case_id}", headers=basic("olle")
    )
    values = {v["name"]: (v["type"], v["value"]) for v in r.json}
    assert values["arkiv_id"] == ("String", "EA-991") and values["arkiverad"] == ("Boolean", True)
    with engine.session() as s:
        done = s.execute(
            sa.select(AuditEvent).where(AuditEvent.kind == "external_task_completed")
        ).scalar_one()
    assert done.actor == "ina" and done.detail["worker"] == "arkivbryggan"
    assert done.detail["changes"]["arkiv_id"] == [None, "EA-991"]
    assert engine.verify_audit(case_id) == []
    r = client.get(
        f"/engine-rest/history/activity-instance?processInstanceId={case_id}", headers=basic("olle")
    )
    service = [a for a in r.json if a["activityType"] == "serviceTask"]
    assert [(a["activityId"], a["activityName"], a["canceled"]) for a in service] == [
        ("Arkivera", "Arkivera beslutet i e-arkivet", False)
    ]
    assert service[0]["startTime"] and service[0]["endTime"]
    # Done: the task no longer exists at runtime.
    assert client.get(f"/engine-rest/external-task/{done.task_id}", headers=basic("ina")).status_code == 404


def test_real_worker_library_reports_failure_and_bpmn_error(server, client, engine, arkiv):
    failing = start(client, "F-1")
    worker = ExternalTaskWorker(worker_id="arkivbryggan", base_url=server, config=WORKER)
    worker.fetch_and_execute(
        "arkivera",
        lambda task: task.failure("e-arkivet svarar inte", "HTTP 503", max_retries=3, retry_timeout=0),
    )
    (row,) = client.get(f"/engine-rest/external-task?processInstanceId={failing}", headers=basic("ina")).json
    assert row["errorMessage"] == "e-arkivet svarar inte" and row["retries"] == 3 and row["workerId"]
    details = client.get(f"/engine-rest/external-task/{row['id']}/errorDetails", headers=basic("ina"))
    assert details.status_code == 200 and details.get_data(as_text=True) == "HTTP 503"

    rejected = start(client, "F-2")
    unlock = client.post(f"/engine-rest/external-task/{row['id']}/unlock", headers=basic("ina"))
    assert unlock.status_code == 204
    r = client.get(f"/engine-rest/history/user-operation?operationType=Unlock&processInstanceId={failing}",
                   headers=basic("olle"))  # fmt: skip
    assert [(o["userId"], o["externalTaskId"], o["orgValue"]) for o in r.json] == [
        ("ina", row["id"], "arkivbryggan")
    ]
    unlocked = post(client, f"{row['id']}/failure", {"workerId": "arkivbryggan", "retries": 0})
    assert unlocked.status_code == 400  # no longer the worker's lock
    worker2 = ExternalTaskWorker(worker_id="granskaren", base_url=server, config={**WORKER, "maxTasks": 10})

    def refuse(task):
        if task.get_business_key() == "F-2":
            return task.bpmn_error("avvisat", "PDF/A saknas", {"orsak": "format"})
        return task.failure("fortfarande nere", None, max_retries=3, retry_timeout=0)

    worker2.fetch_and_execute("arkivera", refuse)
    assert case_status(engine, rejected) == "active"
    with engine.session() as s:
        review = s.execute(sa.select(UserTask).where(UserTask.case_id == rejected)).scalar_one()
    assert review.element_id == "Granska" and review.state == "open"
    r = client.get(f"/engine-rest/process-instance/{rejected}/variables", headers=basic("olle"))
    assert r.json["orsak"]["value"] == "format"


def test_lock_belongs_to_the_worker_that_fetched(client, engine, arkiv):
    case_id = start(client, "L-1")
    r = fetch(client, "w1")
    assert r.status_code == 200
    (task,) = r.json
    assert (
        task["workerId"] == "w1" and task["topicName"] == "arkivera" and task["processInstanceId"] == case_id
    )
    assert task["variables"]["prio"] == {"type": "Long", "value": 1, "valueInfo": {}}
    assert task["priority"] == 1 and task["businessKey"] == "L-1" and task["activityId"] == "Arkivera"
    assert fetch(client, "w2").json == []  # locked: nobody else gets it

    wrong = post(client, f"{task['id']}/complete", {"workerId": "w2"})
    assert wrong.status_code == 400 and "locked by worker 'w1'" in wrong.json["message"]
    assert case_status(engine, case_id) == "active"

    clock.advance(timedelta(seconds=61))  # the lock ran out: another worker may take it
    (again,) = fetch(client, "w2").json
    assert again["id"] == task["id"]
    assert (
        post(client, f"{task['id']}/extendLock", {"workerId": "w1", "newDuration": 1000}).status_code == 400
    )
    assert (
        post(client, f"{task['id']}/extendLock", {"workerId": "w2", "newDuration": 120_000}).status_code
        == 204
    )
    clock.advance(timedelta(seconds=90))
    assert fetch(client, "w3").json == []  # extended: still w2's
    assert post(client, f"{task['id']}/complete", {"workerId": "w2"}).status_code == 204
    assert case_status(engine, case_id) == "completed"
    again = post(client, f"{task['id']}/complete", {"workerId": "w2"})
    assert again.status_code == 404 and again.json["type"] == "RestException"


def test_retries_run_out_into_an_incident_until_someone_sets_new_ones(client, engine, arkiv):
    start(client, "R-1")
    (task,) = fetch(client).json
    failed = post(client, f"{task['id']}/failure", {"workerId": "w1", "errorMessage": "nere", "retries": 1,
                                                    "retryTimeout": 30_000})  # fmt: skip
    assert failed.status_code == 204
    assert fetch(client, "w2").json == []  # waiting out the retry timeout
    clock.advance(timedelta(seconds=31))
    (task,) = fetch(client, "w2").json
    assert task["retries"] == 1 and task["errorMessage"] == "nere"
    assert (
        post(
            client, f"{task['id']}/failure", {"workerId": "w2", "errorMessage": "nere", "retries": 0}
        ).status_code
        == 204
    )
    clock.advance(timedelta(hours=1))
    assert fetch(client, "w3").json == []  # an incident: no worker gets it
    r = client.get("/engine-rest/external-task?noRetriesLeft=true", headers=basic("olle"))
    assert [t["id"] for t in r.json] == [task["id"]]
    assert client.get(
        "/engine-rest/external-task/count?withRetriesLeft=true", headers=basic("olle")
    ).json == {"count": 0}

    # An incident, as Camunda lists it.
    (incident,) = client.get(
        "/engine-rest/incident?incidentType=failedExternalTask", headers=basic("olle")
    ).json
    assert incident["id"] == task["id"] and incident["configuration"] == task["id"]
    assert incident["processInstanceId"] == task["processInstanceId"] and incident["activityId"] == "Arkivera"
    assert incident["incidentMessage"] == "nere" and incident["incidentTimestamp"]
    assert client.get("/engine-rest/incident?incidentType=failedJob", headers=basic("olle")).json == []
    assert client.get("/engine-rest/incident/count", headers=basic("olle")).json == {"count": 1}
    assert client.get(f"/engine-rest/incident/{task['id']}", headers=basic("olle")).status_code == 200
    assert client.get("/engine-rest/incident", headers=basic("hanna")).status_code == 403
    assert client.get("/engine-rest/incident?bogus=1", headers=basic("olle")).status_code == 400

    # Hanna (a case worker) may not; the process owner may.
    r = client.put(
        f"/engine-rest/external-task/{task['id']}/retries", json={"retries": 2}, headers=basic("hanna")
    )
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    r = client.put(
        f"/engine-rest/external-task/{task['id']}/retries", json={"retries": 2}, headers=basic("olle")
    )
    assert r.status_code == 204
    (again,) = fetch(client, "w3").json
    assert again["retries"] == 2
    assert client.get("/engine-rest/incident/count", headers=basic("olle")).json == {"count": 0}
    assert client.get(f"/engine-rest/incident/{task['id']}", headers=basic("olle")).status_code == 404
    with engine.session() as s:
        kinds = [
            k for (k,) in s.execute(sa.select(AuditEvent.kind).order_by(AuditEvent.seq)) if "external" in k
        ]
    assert kinds == ["external_task_created", "external_task_failed", "external_task_failed",
                     "external_task_retries_set"]  # fmt: skip
    with engine.session() as s:
        incident = s.execute(sa.select(AuditEvent).where(AuditEvent.kind == "external_task_failed")
                             .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()  # fmt: skip
    assert incident.detail["incident"] is True and incident.actor == "ina"
    r = client.get(
        "/engine-rest/history/user-operation?operationType=SetExternalTaskRetries", headers=basic("olle")
    )
    assert [
        (o["userId"], o["externalTaskId"], o["taskId"], o["orgValue"], o["newValue"]) for o in r.json
    ] == [("olle", task["id"], None, "0", "2")]


def test_a_business_error_nobody_catches_is_refused_and_changes_nothing(client, engine, arkiv):
    case_id = start(client, "E-1")
    (task,) = fetch(client).json
    with engine.session() as s:
        before = s.get(Case, case_id).version
    r = post(client, f"{task['id']}/bpmnError", {"workerId": "w1", "errorCode": "okand_kod",
                                                 "variables": {"x": {"value": 1}}})  # fmt: skip
    assert r.status_code == 400 and "okand_kod" in r.json["message"]
    with engine.session() as s:
        assert s.get(Case, case_id).version == before
    assert case_status(engine, case_id) == "active"
    # The right code is caught by the boundary event: the case goes to the review task.
    assert (
        post(client, f"{task['id']}/bpmnError", {"workerId": "w1", "errorCode": "avvisat"}).status_code == 204
    )
    assert count(engine, UserTask, UserTask.case_id == case_id, UserTask.state == "open") == 1
    assert count(engine, ExternalTask, ExternalTask.state == "open") == 0


def test_only_integration_roles_work_external_tasks(client, engine, arkiv):
    start(client, "A-1")
    r = fetch(client, user="hanna")
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    r = client.get("/engine-rest/external-task", headers=basic("hanna"))
    assert r.status_code == 403
    assert client.get("/engine-rest/external-task").status_code == 401
    (task,) = fetch(client).json
    r = post(client, f"{task['id']}/complete", {"workerId": "w1"}, user="hanna")
    assert r.status_code == 403
    assert count(engine, ExternalTask, ExternalTask.state == "open") == 1


def test_bad_requests_are_refused_with_the_reason(client, engine, arkiv):
    start(client, "B-1")
    bad = [
        {"workerId": "w1", "maxTasks": 1, "topics": [{"topicName": "arkivera"}]},  # no lockDuration
        {"workerId": "w1", "maxTasks": 1, "topics": [{"topicName": "arkivera", "lockDuration": -5}]},
        {"workerId": "", "maxTasks": 1, "topics": [{"topicName": "arkivera", "lockDuration": 10}]},
        {"workerId": "w1", "maxTasks": "many", "topics": []},
        {
            "workerId": "w1",
            "maxTasks": 1,
            "topics": [{"topicName": "arkivera", "lockDuration": 10, "typo": 1}],
        },
        {"workerId": "w1", "maxTasks": 1, "asyncResponseTimeout": 9_999_999, "topics": []},
    ]
    for body in bad:
        r = client.post("/engine-rest/external-task/fetchAndLock", json=body, headers=basic("ina"))
        assert r.status_code == 400, body
    assert client.get("/engine-rest/external-task?lockedd=true", headers=basic("ina")).status_code == 400
    assert count(engine, ExternalTask, ExternalTask.worker_id.is_not(None)) == 0
    (task,) = fetch(client).json
    r = post(
        client,
        f"{task['id']}/complete",
        {"workerId": "w1", "variables": {"n": {"value": "x", "type": "Integer"}}},
    )
    assert r.status_code == 400 and "n" in r.json["message"]
    r = post(client, f"{task['id']}/complete", {"workerId": "w1", "localVariables": {"n": {"value": 1}}})
    assert r.status_code == 400 and "local" in r.json["message"]
    assert post(client, "no-such-task/complete", {"workerId": "w1"}).status_code == 404
    assert case_status(engine, task["processInstanceId"]) == "active"


def test_filters_topics_and_priority(client, engine, arkiv):
    low = start(client, "P-low", prio=1)
    high = start(client, "P-high", prio=90, kommun="Malmö")
    r = fetch(client, maxTasks=1, usePriority=True)
    assert [t["processInstanceId"] for t in r.json] == [high]
    r = fetch(client, "w2", topic={"businessKey": "nope"})
    assert r.json == []
    r = fetch(client, "w2", topic={"processVariables": {"prio": 1}, "variables": ["prio"]})
    assert [(t["processInstanceId"], sorted(t["variables"])) for t in r.json] == [(low, ["prio"])]
    r = client.get("/engine-rest/external-task?topicName=arkivera&sortBy=taskPriority&sortOrder=desc",
                   headers=basic("olle"))  # fmt: skip
    assert [t["processInstanceId"] for t in r.json] == [high, low]
    assert [t["workerId"] for t in r.json] == ["w1", "w2"]
    r = client.post("/engine-rest/external-task/count", json={"workerId": "w1"}, headers=basic("olle"))
    assert r.json == {"count": 1}
    r = client.get("/engine-rest/external-task/topic-names", headers=basic("ina"))
    assert r.json == ["arkivera"]
    r = client.get("/engine-rest/external-task/topic-names?withUnlockedTasks=true", headers=basic("ina"))
    assert r.json == []
    r = fetch(client, "w3", topic={"tenantIdIn": ["t1"]})
    assert r.json == []
    r = client.post("/engine-rest/external-task/fetchAndLock", json={
        "workerId": "w4", "maxTasks": 5, "topics": [{"topicName": "arkivera", "lockDuration": 1000,
                                                      "includeExtensionProperties": True}]},
        headers=basic("ina"))  # fmt: skip
    assert r.json == []  # all locked


def test_extension_properties_on_request(client, engine, arkiv):
    start(client, "X-1")
    (task,) = fetch(client, topic={"includeExtensionProperties": True}).json
    assert task["extensionProperties"] == {"arkiv": "e-arkiv"}


def test_cancelling_the_case_ends_its_external_task(client, engine, arkiv):
    case_id = start(client, "C-1")
    (task,) = fetch(client).json
    r = client.delete(f"/engine-rest/process-instance/{case_id}", headers=basic("olle"))
    assert r.status_code == 204
    assert post(client, f"{task['id']}/complete", {"workerId": "w1"}).status_code == 404
    with engine.session() as s:
        assert s.get(ExternalTask, task["id"]).state == "cancelled"


def test_long_polling_answers_when_a_task_arrives(server, client, engine, arkiv):
    def later():
        time.sleep(0.6)
        engine.start_case("arkivering", "LP-1", {"prio": 3}, actor="olle")

    thread = threading.Thread(target=later)
    began = time.monotonic()
    thread.start()
    r = requests.post(
        f"{server}/external-task/fetchAndLock",
        json={"workerId": "w1", "maxTasks": 1, "asyncResponseTimeout": 10_000,
              "topics": [{"topicName": "arkivera", "lockDuration": 1000}]},
        auth=("ina", PASSWORD),
        timeout=30,
    )  # fmt: skip
    waited = time.monotonic() - began
    thread.join()
    assert r.status_code == 200 and [t["businessKey"] for t in r.json()] == ["LP-1"]
    assert 0.5 <= waited < 9


def test_two_workers_fetching_at_once_never_share_a_task(server, client, engine, arkiv):
    for i in range(12):
        engine.start_case("arkivering", f"K-{i}", {"prio": 1}, actor="olle")
    got: dict[str, list[str]] = {}

    def work(name: str):
        client_ = ExternalTaskClient(name, server, {**WORKER, "maxTasks": 2})
        mine = []
        for _ in range(8):
            mine += [t["id"] for t in client_.fetch_and_lock("arkivera")]
        got[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [tid for ids in got.values() for tid in ids]
    assert len(every) == 12 and len(set(every)) == 12


def test_camunda_details_of_failures_priorities_and_fetching(client, engine, arkiv):
    case_id = start(client, "D-1", prio=2)
    (task,) = fetch(client).json
    assert task["errorDetails"] is None and task["suspended"] is False
    r = client.get(f"/engine-rest/external-task/{task['id']}/errorDetails", headers=basic("ina"))
    assert r.status_code == 204  # no details yet: no content, as Camunda
    # A failure without retries is Camunda's int 0: an incident at once.
    r = post(
        client, f"{task['id']}/failure", {"workerId": "w1", "errorMessage": "nere", "errorDetails": "stack"}
    )
    assert r.status_code == 204
    assert client.get("/engine-rest/incident/count", headers=basic("olle")).json == {"count": 1}
    r = client.put("/engine-rest/external-task/retries", json={"retries": 1, "externalTaskIds": ["nope"]},
                   headers=basic("olle"))  # fmt: skip
    assert r.status_code == 404 and "nope" in r.json["message"]
    assert client.put(f"/engine-rest/external-task/{task['id']}/retries", json={"retries": 1},
                      headers=basic("olle")).status_code == 204  # fmt: skip
    (again,) = fetch(client, "w2").json
    assert (again["errorMessage"], again["errorDetails"]) == ("nere", "stack")  # the worker sees why

    r = client.put(
        f"/engine-rest/external-task/{task['id']}/priority", json={"priority": 77}, headers=basic("olle")
    )
    assert r.status_code == 204
    assert (
        client.get(f"/engine-rest/external-task/{task['id']}", headers=basic("olle")).json["priority"] == 77
    )
    r = client.put(
        f"/engine-rest/external-task/{task['id']}/priority", json={"priority": "hög"}, headers=basic("olle")
    )
    assert r.status_code == 400
    r = client.get("/engine-rest/history/user-operation?operationType=SetPriority", headers=basic("olle"))
    assert [(o["orgValue"], o["newValue"], o["processInstanceId"]) for o in r.json] == [("2", "77", case_id)]
    r = client.get("/engine-rest/external-task?sortBy=tenantId&sortOrder=asc", headers=basic("olle"))
    assert r.status_code == 200 and len(r.json) == 1


def test_topic_fields_of_the_wrong_kind_are_refused_and_local_variables_honoured(client, engine, arkiv):
    start(client, "T-1", diarienr="KS 1")
    for topic in ({"processDefinitionKey": {"a": 1}}, {"tenantIdIn": "t1"}, {"deserializeValues": "x"},
                  {"localVariables": "kanske"}, {"businessKey": 5}):  # fmt: skip
        r = fetch(client, topic=topic)
        assert r.status_code == 400, topic
    assert count(engine, ExternalTask, ExternalTask.worker_id.is_not(None)) == 0
    # Only the task's own variables: a top-level task has none (Camunda: its execution's local ones).
    (task,) = fetch(client, topic={"localVariables": True}).json
    assert task["variables"] == {}
    assert fetch(client, "w9", maxTasks=None).status_code == 400
    r = client.post("/engine-rest/external-task/fetchAndLock", json={"workerId": "w9", "topics": []},
                    headers=basic("ina"))  # fmt: skip
    assert r.status_code == 200 and r.json == []  # maxTasks omitted: Camunda's 0

"""What a probe with Camunda 7's official JavaScript clients (camunda-external-task-client-js and
camunda-bpm-sdk-js) found: POST queries paged by the query string (F1), ``POST /external-task/{id}/lock``
(F2), fetch sorting by createTime desc (F3), HAL task lists (F4), named-engine paths (F5), the duration
report's 404 (F9), English messages with Camunda's ``code`` (F10), and Camunda's range limits (F11)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine import clock
from engine.errors import InvalidValue
from engine.models import AuditEvent, UserTask
from tests.rest.conftest import basic
from tests.rest.test_external_tasks import arkiv, fetch, post, start  # noqa: F401 (arkiv: a fixture)
from tests.rest.test_tasks import start as start_initiativ

HAL = "application/hal+json"
SDK_ACCEPT = "application/hal+json, application/json; q=0.5"


@pytest.fixture
def five(client, deployed):
    return [start_initiativ(client, f"P-{n}", kommentar=(f"k{n}", "String")) for n in range(5)]


# --- F1: paging of POST queries ---------------------------------------------------------------------------
POST_QUERIES = [
    ("/task", "hanna"),
    ("/process-instance", "hanna"),
    ("/history/process-instance", "hanna"),
    ("/history/task", "hanna"),
    ("/history/variable-instance", "hanna"),
    ("/history/activity-instance", "hanna"),
]


@pytest.mark.parametrize("path, user", POST_QUERIES)
def test_a_post_query_pages_by_the_query_string(client, five, path, user):
    url = f"/engine-rest{path}"
    everything = client.post(url, json={}, headers=basic(user)).json
    assert len(everything) >= 5
    got = client.post(f"{url}?firstResult=1&maxResults=2", json={}, headers=basic(user))
    assert got.status_code == 200 and len(got.json) == 2, got.json
    assert got.json == everything[1:3]
    # The body's paging still counts without any in the query string; the query string wins over it.
    assert len(client.post(url, json={"maxResults": 3}, headers=basic(user)).json) == 3
    both = client.post(f"{url}?maxResults=1", json={"maxResults": 3}, headers=basic(user))
    assert len(both.json) == 1


@pytest.mark.parametrize("path, user", POST_QUERIES)
@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", str(2**31)])
def test_a_bad_paging_value_in_the_query_string_of_a_post_query_is_a_400(client, five, path, user, bad):
    for name in ("firstResult", "maxResults"):
        r = client.post(f"/engine-rest{path}?{name}={bad}", json={}, headers=basic(user))
        assert r.status_code == 400, r.json
        assert r.json["type"] == "InvalidRequestException" and r.json["code"] == 0
        assert r.json["message"] == f"Cannot set query parameter '{name}' to value '{bad}'"


def test_external_task_post_query_pages_by_either(client, engine, arkiv):  # noqa: F811
    for n in range(4):
        start(client, f"E-{n}")
    url = "/engine-rest/external-task"
    assert len(client.post(f"{url}?maxResults=2", json={}, headers=basic("ina")).json) == 2
    assert len(client.post(url, json={"maxResults": 3}, headers=basic("ina")).json) == 3
    assert client.post(f"{url}?maxResults=-1", json={}, headers=basic("ina")).status_code == 400


# --- F2: lock one external task ---------------------------------------------------------------------------
def _lock(client, task_id: str, worker: str, duration=60_000, user: str = "ina"):
    body = {"workerId": worker, "lockDuration": duration}
    return client.post(f"/engine-rest/external-task/{task_id}/lock", json=body, headers=basic(user))


def _external(client, task_id: str) -> dict:
    r = client.get(f"/engine-rest/external-task/{task_id}", headers=basic("olle"))
    assert r.status_code == 200, r.json
    return r.json


def test_lock_takes_an_unlocked_or_expired_task_and_refuses_another_workers_lock(client, engine, arkiv):  # noqa: F811
    case_id = start(client, "LOCK-1")
    (task,) = client.get(
        f"/engine-rest/external-task?processInstanceId={case_id}", headers=basic("olle")
    ).json
    tid = task["id"]
    assert task["workerId"] is None

    r = _lock(client, tid, "w1")
    assert r.status_code == 204 and not r.data
    assert _external(client, tid)["workerId"] == "w1"
    assert fetch(client, "w2").json == []  # locked: no one fetches it

    other = _lock(client, tid, "w2")
    assert other.status_code == 400, other.json
    assert other.json["message"] == (
        f"External Task {tid} cannot be locked by worker 'w2'. It is locked by worker 'w1'."
    )
    assert other.json["code"] == 0
    assert _lock(client, tid, "w1", 120_000).status_code == 204  # the same worker: a new duration

    clock.advance(timedelta(seconds=121))  # expired: another worker may lock it
    assert _lock(client, tid, "w2").status_code == 204
    assert post(client, f"{tid}/complete", {"workerId": "w2"}).status_code == 204

    with engine.session() as s:
        kinds = s.execute(
            sa.select(AuditEvent.kind, AuditEvent.actor).where(AuditEvent.case_id == case_id)
        ).all()
    assert kinds.count(("external_task_locked", "ina")) == 3


def test_lock_answers_like_the_other_external_task_endpoints(client, engine, arkiv):  # noqa: F811
    start(client, "LOCK-2")
    (task,) = client.get("/engine-rest/external-task", headers=basic("olle")).json
    tid = task["id"]
    missing = _lock(client, "no-such-task", "w1")
    assert missing.status_code == 404 and missing.json["type"] == "RestException"
    assert missing.json["message"] == "External task with id no-such-task does not exist"
    assert _lock(client, tid, "w1", user="hanna").status_code == 403  # staff are no workers
    assert _lock(client, tid, "w1", 0).json["message"] == "lockDuration is not greater than 0"
    assert _lock(client, tid, "w1", -5).status_code == 400
    assert _lock(client, tid, None).json["message"] == "workerId is null"
    unknown = client.post(
        f"/engine-rest/external-task/{tid}/lock",
        json={"workerId": "w1", "lockDuration": 1000, "x": 1},
        headers=basic("ina"),
    )
    assert unknown.status_code == 400
    assert _external(client, tid)["workerId"] is None  # nothing refused took a lock


# --- F3: fetch sorting --------------------------------------------------------------------------------------
def test_fetch_sorts_by_create_time_either_way_after_the_priority(client, engine, arkiv):  # noqa: F811
    ids = []
    for n, prio in enumerate([1, 1, 5]):
        ids.append(start(client, f"S-{n}", prio=prio))
        clock.advance(timedelta(seconds=1))

    def order(sort_order: str, **extra) -> list[str]:
        sorting = [{"sortBy": "createTime", "sortOrder": sort_order}]
        r = fetch(client, f"w-{sort_order}", sorting=sorting, **extra)
        assert r.status_code == 200, r.json
        for t in r.json:
            assert post(client, f"{t['id']}/unlock", user="olle").status_code == 204
        return [t["processInstanceId"] for t in r.json]

    assert order("desc") == ids[::-1]
    assert order("asc") == ids
    assert order("desc", usePriority=True) == [ids[2], ids[1], ids[0]]
    assert order("asc", usePriority=True) == [ids[2], ids[0], ids[1]]
    bad = fetch(client, sorting=[{"sortBy": "createTime", "sortOrder": "sideways"}])
    assert bad.status_code == 400 and "sideways" in bad.json["message"]
    assert fetch(client, sorting=[{"sortBy": "priority", "sortOrder": "asc"}]).status_code == 400


# --- F4: HAL ------------------------------------------------------------------------------------------------
def test_the_sdk_accept_header_gets_camundas_hal_task_list(client, five):
    r = client.get("/engine-rest/task?maxResults=2", headers={**basic("hanna"), "Accept": SDK_ACCEPT})
    assert r.status_code == 200 and r.mimetype == HAL
    body = r.json
    assert body["count"] == 5 and body["_links"] == {"self": {"href": "/task"}}
    tasks = body["_embedded"]["task"]
    assert len(tasks) == 2
    first = tasks[0]
    plain = client.get("/engine-rest/task?maxResults=2", headers=basic("hanna")).json
    assert {k: v for k, v in first.items() if not k.startswith("_")} == plain[0]
    assert first["_links"]["self"] == {"href": f"/task/{first['id']}"}
    assert first["_links"]["processDefinition"] == {
        "href": f"/process-definition/{first['processDefinitionId']}"
    }
    assert first["_links"]["processInstance"] == {"href": f"/process-instance/{first['processInstanceId']}"}
    (definition,) = body["_embedded"]["processDefinition"]
    assert definition["id"] == first["processDefinitionId"] and definition["key"] == "test_initiativ"
    assert body["_embedded"]["assignee"] == []

    # A claimed task links its assignee, who is embedded in the list.
    assert (
        client.post(f"/engine-rest/task/{first['id']}/claim", json={}, headers=basic("hanna")).status_code
        == 204
    )
    body = client.get("/engine-rest/task", headers={**basic("hanna"), "Accept": SDK_ACCEPT}).json
    (hanna,) = body["_embedded"]["assignee"]
    assert hanna["id"] == "hanna" and hanna["_links"]["self"] == {"href": "/user/hanna"}
    assert hanna["email"] == "hanna@example.se"  # her own
    # A colleague sees who holds it, but not their e-mail address: GET /user/hanna/profile is a 403 to
    # them, and the HAL answer must not tell more (probe 9).
    seen = client.get("/engine-rest/task", headers={**basic("henrik"), "Accept": SDK_ACCEPT}).json
    assert [(u["id"], u["email"]) for u in seen["_embedded"]["assignee"]] == [("hanna", None)]
    assert client.get("/engine-rest/user/hanna/profile", headers=basic("henrik")).status_code == 403
    # POST /task negotiates the same way.
    posted = client.post("/engine-rest/task", json={}, headers={**basic("hanna"), "Accept": SDK_ACCEPT})
    assert posted.mimetype == HAL and posted.json["count"] == 5


def test_one_hal_task_embeds_its_definition_and_identity_links(client, five):
    (task,) = client.get("/engine-rest/task?maxResults=1", headers=basic("hanna")).json
    r = client.get(f"/engine-rest/task/{task['id']}", headers={**basic("hanna"), "Accept": SDK_ACCEPT})
    assert r.status_code == 200 and r.mimetype == HAL
    assert r.json["id"] == task["id"] and r.json["_links"]["self"] == {"href": f"/task/{task['id']}"}
    embedded = r.json["_embedded"]
    assert [d["id"] for d in embedded["processDefinition"]] == [task["processDefinitionId"]]
    assert {"groupId": "handlaggare", "type": "candidate"}.items() <= embedded["identityLink"][0].items()
    assert [g["id"] for g in embedded["group"]] == ["handlaggare"]


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/json, application/hal+json;q=0.5"]
)
def test_json_stays_the_answer_unless_hal_is_preferred(client, five, accept):
    headers = basic("hanna") | ({"Accept": accept} if accept else {})
    r = client.get("/engine-rest/task", headers=headers)
    assert r.status_code == 200 and r.mimetype == "application/json" and isinstance(r.json, list)


def test_an_accept_allowing_neither_json_nor_hal_is_a_406(client, five):
    for path in (
        "/engine-rest/task",
        f"/engine-rest/task/{client.get('/engine-rest/task', headers=basic('hanna')).json[0]['id']}",
    ):
        r = client.get(path, headers={**basic("hanna"), "Accept": "application/xml"})
        assert r.status_code == 406 and r.mimetype == "application/json"
        assert r.json == {"type": "NotAcceptableException", "message": "HTTP 406 Not Acceptable", "code": 0}


# --- F5: named engine -----------------------------------------------------------------------------------------
def test_every_resource_is_also_under_the_default_engine_name(client, deployed):
    assert client.get("/engine-rest/engine", headers=basic("hanna")).json == [{"name": "default"}]
    base = "/engine-rest/engine/default"
    started = client.post(
        f"{base}/process-definition/key/test_initiativ/start",
        json={"businessKey": "N-1"},
        headers=basic("hanna"),
    )
    assert started.status_code == 200, started.json
    tasks = client.get(f"{base}/task", headers=basic("hanna"))
    assert tasks.status_code == 200 and [t["processInstanceId"] for t in tasks.json] == [started.json["id"]]
    assert tasks.json == client.get("/engine-rest/task", headers=basic("hanna")).json
    assert client.get(f"{base}/process-definition", headers=basic("hanna")).status_code == 200
    count = client.post(f"{base}/task/count", json={}, headers=basic("hanna"))
    assert count.json == {"count": 1}
    # The same HTTP Basic check, the same error shapes.
    unauthorized = client.get(f"{base}/task")
    assert unauthorized.status_code == 401 and unauthorized.headers["WWW-Authenticate"]
    assert client.get(f"{base}/task", headers=basic("hanna", "fel")).status_code == 401
    missing = client.get(f"{base}/task/nope", headers=basic("hanna"))
    assert missing.status_code == 404 and missing.json["type"] == "InvalidRequestException"
    absent = client.get(f"{base}/no-such-resource", headers=basic("hanna"))
    assert absent.status_code == 404 and "Delaktig does not offer" in absent.json["message"]


def test_another_engine_name_is_camundas_404(client, deployed):
    for headers in (basic("hanna"), {}):
        r = client.get("/engine-rest/engine/other/task", headers=headers)
        assert r.status_code == 404
        assert r.json == {
            "type": "InvalidRequestException",
            "message": "Process engine other not available",
            "code": 0,
        }


# --- F9 ------------------------------------------------------------------------------------------------------
def test_the_duration_report_is_not_offered_rather_than_an_unknown_instance(client, deployed):
    r = client.get(
        "/engine-rest/history/process-instance/report?reportType=duration&periodUnit=month",
        headers=basic("olle"),
    )
    assert r.status_code == 404 and r.json["type"] == "InvalidRequestException"
    assert r.json["message"].startswith(
        "Delaktig does not offer GET /engine-rest/history/process-instance/report"
    )


# --- F10: English, code, null -----------------------------------------------------------------------------------
def test_wrong_worker_messages_are_camundas(client, engine, arkiv):  # noqa: F811
    start(client, "W-1")
    (task,) = fetch(client, "A").json
    tid = task["id"]
    expected = {
        "failure": f"Failure of External Task {tid} cannot be reported by worker 'B'. It is locked by worker 'A'.",
        "bpmnError": f"Bpmn error of External Task {tid} cannot be reported by worker 'B'. It is locked by worker 'A'.",
        "extendLock": f"The lock of the External Task {tid} cannot be extended by worker 'B'. It is locked by worker 'A'.",
        "complete": f"External Task {tid} cannot be completed by worker 'B'. It is locked by worker 'A'.",
    }
    bodies = {
        "failure": {},
        "bpmnError": {"errorCode": "x"},
        "extendLock": {"newDuration": 1000},
        "complete": {},
    }
    for action, message in expected.items():
        r = post(client, f"{tid}/{action}", {"workerId": "B", **bodies[action]})
        assert r.status_code == 400 and r.json["message"] == message and r.json["code"] == 0, r.json
    assert post(client, f"{tid}/unlock", user="olle").status_code == 204
    unlocked = post(client, f"{tid}/complete", {"workerId": "B"})
    assert unlocked.json["message"].endswith("It is locked by worker 'null'.")


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"maxTasks": -1}, "maxTasks is not greater than or equal to 0"),
        ({"workerId": None}, "workerId is null"),
        ({"workerId": ""}, "workerId must be a text of 1 to 255 characters"),
        ({"topic": {"lockDuration": 0}}, "lockDuration is not greater than 0"),
        ({"topic": {"lockDuration": 200 * 365 * 24 * 3600 * 1000}}, "lockDuration is greater than"),
        ({"maxTasks": 10_001}, "maxTasks must be at most 10000"),
    ],
)
def test_fetch_validation_is_english(client, engine, arkiv, extra, message):  # noqa: F811
    r = fetch(client, **extra)
    assert r.status_code == 400 and message in r.json["message"], r.json
    assert r.json["code"] == 0


def test_failure_and_retries_validation_is_english(client, engine, arkiv):  # noqa: F811
    start(client, "V-1")
    (task,) = fetch(client, "A").json
    tid = task["id"]
    r = post(client, f"{tid}/failure", {"workerId": "A", "retries": -1})
    assert r.status_code == 400 and r.json["message"] == "The number of retries cannot be negative"
    r = post(client, f"{tid}/failure", {"workerId": "A", "retryTimeout": -1})
    assert r.json["message"] == "retryTimeout is not greater than or equal to 0"
    r = client.put(f"/engine-rest/external-task/{tid}/retries", json={"retries": -3}, headers=basic("olle"))
    assert r.status_code == 400 and r.json["message"] == "The number of retries cannot be negative"
    r = post(client, f"{tid}/bpmnError", {"workerId": "A", "errorCode": "nobody-catches"})
    assert r.status_code == 400 and "No error boundary event" in r.json["message"]


def test_nul_characters_are_refused_in_english(client, deployed):
    r = client.post("/engine-rest/task", json={"name": "a\x00b"}, headers=basic("hanna"))
    assert r.status_code == 400 and r.json["message"].startswith(
        "The text contains a character that cannot be stored"
    )
    r = client.get("/engine-rest/task?name=a%00b", headers=basic("hanna"))
    assert r.status_code == 400 and r.json["message"].startswith(
        "The text contains a character that cannot be stored"
    )
    assert r.json["code"] == 0


def test_a_value_the_database_cannot_keep_is_an_english_400(client, engine, deployed, monkeypatch):
    def refuse(*args, **kwargs):
        raise InvalidValue("en text är längre än vad som får plats", "value too long")

    monkeypatch.setattr(type(engine), "complete_task", refuse)
    case_id = start_initiativ(client, "IV-1")
    with engine.session() as s:
        task_id = s.execute(sa.select(UserTask.id).where(UserTask.case_id == case_id)).scalar_one()
    r = client.post(f"/engine-rest/task/{task_id}/complete", json={}, headers=basic("hanna"))
    assert r.status_code == 400, r.json
    assert r.json["message"].endswith("A value cannot be used: a text is longer than fits.")
    assert r.json["problems"] == [
        {"field": "", "message": "A value cannot be used: a text is longer than fits."}
    ]


def test_an_optimistic_locking_conflict_has_code_1(client, engine, deployed, monkeypatch):
    from engine.errors import StaleCase

    def stale(*args, **kwargs):
        raise StaleCase("ärendet ändrades samtidigt")

    monkeypatch.setattr(type(engine), "complete_task", stale)
    case_id = start_initiativ(client, "OL-1")
    with engine.session() as s:
        task_id = s.execute(sa.select(UserTask.id).where(UserTask.case_id == case_id)).scalar_one()
    r = client.post(f"/engine-rest/task/{task_id}/complete", json={}, headers=basic("hanna"))
    assert r.status_code == 500 and r.json["type"] == "OptimisticLockingException" and r.json["code"] == 1
    assert "concurrent" in r.json["message"]


# --- F11: limits ------------------------------------------------------------------------------------------------
def test_long_locks_and_big_fetches_are_accepted(client, engine, arkiv):  # noqa: F811
    thirty_days = 30 * 24 * 3600 * 1000
    start(client, "BIG-1")
    r = fetch(client, "A", maxTasks=5000, topic={"lockDuration": thirty_days})
    assert r.status_code == 200 and len(r.json) == 1, r.json
    tid = r.json[0]["id"]
    assert (
        post(client, f"{tid}/extendLock", {"workerId": "A", "newDuration": 10 * thirty_days}).status_code
        == 204
    )
    failed = post(client, f"{tid}/failure", {"workerId": "A", "retries": 1, "retryTimeout": thirty_days})
    assert failed.status_code == 204
    too_long = post(client, f"{tid}/extendLock", {"workerId": "A", "newDuration": 2**62})
    assert too_long.status_code == 400


def test_the_fetch_cap_is_configurable(app, client, engine, arkiv):  # noqa: F811
    app.config["REST_FETCH_MAX_TASKS"] = 3
    r = fetch(client, maxTasks=4)
    assert r.status_code == 400 and r.json["message"] == "maxTasks must be at most 3 (REST_FETCH_MAX_TASKS)"
    assert fetch(client, maxTasks=3).status_code == 200

"""Session 10's probe of the REST API with Camunda 7 clients and hostile input: an update racing a
completion, date filters compared as instants whatever the offset, delegating an unassigned task, and the
defects the probe found with pycamunda, the external-task client and plain requests — each pinned on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa

from engine import clock
from engine.models import AuditEvent, UserTask
from tests.rest.conftest import PASSWORD, basic
from tests.rest.test_tasks import GOOD, granska, start

R = "/engine-rest"
H = basic("hanna")


def _task_row(engine, task_id: str) -> tuple:
    with engine.session() as s:
        t = s.get(UserTask, task_id)
        return t.state, t.name, t.priority, t.assignee, t.owner, t.delegation_state


def _audit_count(engine, case_id: str) -> int:
    with engine.session() as s:
        return s.execute(sa.select(sa.func.count()).where(AuditEvent.case_id == case_id)).scalar_one()


def _keys(client, path: str, **kwargs) -> list[str]:
    r = client.post(path, **kwargs) if "json" in kwargs else client.get(path, **kwargs)
    assert r.status_code == 200, r.json
    return sorted(x.get("businessKey") or x.get("processInstanceId") for x in r.json)


# --- 1. PUT /task/{id} racing a completion ---------------------------------------------------------------
def test_an_update_of_a_task_completed_meanwhile_is_a_404_and_writes_nothing(
    client, engine, deployed, monkeypatch
):
    """The task was read (open), then completed by another request before the update wrote: the update
    answered 500 ProcessEngineException "already completed". As Camunda's PUT /task/{id} of a task that
    does not exist: a 404, and nothing of the update is written."""
    from webhooks.rest import task_update

    case_id = start(client, "U-1")
    task_id = granska(client, case_id)
    readable = task_update._readable

    def read_then_lose_the_race(s, tid):
        task = readable(s, tid)
        engine.complete_task(tid, "henrik", {k: v["value"] for k, v in GOOD.items()}, allow_extra=True)
        return task

    monkeypatch.setattr(task_update, "_readable", read_then_lose_the_race)
    r = client.put(f"{R}/task/{task_id}", json={"name": "Ändrad", "priority": 7}, headers=H)
    assert r.status_code == 404, r.json
    assert r.json["type"] == "InvalidRequestException" and task_id in r.json["message"]
    before = _audit_count(engine, case_id)
    state, name, priority, *_ = _task_row(engine, task_id)
    assert (state, name, priority) == ("completed", "Granska initiativet", 60)
    assert _audit_count(engine, case_id) == before


def test_updates_racing_completions_over_http_never_answer_a_server_error(server, engine, deployed):
    """Real concurrent requests: each update either wins (204) or finds the task gone (404)."""
    answers = set()
    for n in range(6):
        case = requests.post(
            f"{server}/process-definition/key/test_initiativ/start",
            json={"businessKey": f"R-{n}"},
            auth=("hanna", PASSWORD),
        ).json()
        (task,) = requests.get(
            f"{server}/task", params={"processInstanceId": case["id"]}, auth=("hanna", PASSWORD)
        ).json()
        barrier = threading.Barrier(2)
        results: dict[str, requests.Response] = {}

        def act(
            kind: str, user: str, task_id: str = task["id"], barrier=barrier, results=results, n=n
        ) -> None:
            session = requests.Session()
            session.auth = (user, PASSWORD)
            session.get(f"{server}/version")
            barrier.wait()
            if kind == "complete":
                results[kind] = session.post(f"{server}/task/{task_id}/complete", json={"variables": GOOD})
            else:
                results[kind] = session.put(f"{server}/task/{task_id}", json={"name": f"Ny {n}"})

        threads = [threading.Thread(target=act, args=a) for a in (("complete", "hanna"), ("put", "henrik"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results["complete"].status_code == 204, results["complete"].text
        put = results["put"]
        assert put.status_code in (204, 404), put.text
        if put.status_code == 404:
            assert put.json()["type"] == "InvalidRequestException"
        answers.add(put.status_code)
    assert answers


# --- 2. date filters compare instants --------------------------------------------------------------------
T = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)  # 10:30 in Stockholm (+0100)


@pytest.mark.parametrize(
    "name, value, found",
    [
        ("dueBefore", "2026-12-03T10:31:00.000+0100", True),  # 09:31Z: after the due 09:30Z
        ("dueBefore", "2026-12-03T10:29:00.000+0100", False),
        ("dueBefore", "2026-12-03T04:31:00.000-0500", True),
        ("dueAfter", "2026-12-03T10:29:00.000+0100", True),
        ("dueAfter", "2026-12-03T09:31:00.000Z", False),
        ("followUpBefore", "2026-12-10T10:31:00.000+0100", True),
        ("followUpAfter", "2026-12-10T10:31:00.000+0100", False),
        ("createdBefore", "2026-12-03T10:30:00.001+0100", True),
        ("createdBefore", "2026-12-03T10:29:59.999+0100", False),
        ("createdAfter", "2026-12-03T18:29:00.000+0900", True),
        ("createdAfter", "2026-12-03T18:31:00.000+0900", False),
    ],
)
def test_task_date_filters_compare_instants_whatever_the_offset(client, deployed, name, value, found):
    with clock.frozen(T):
        task_id = granska(client, start(client, "D-1"))
    due = client.put(f"{R}/task/{task_id}", json={"due": "2026-12-03T09:30:00.000+0000"}, headers=H)
    assert due.status_code == 204
    expected = [task_id] if found else []
    for params in ({name: value}, {name: value.replace("+", " ")}):  # an unencoded "+" arrives as a space
        r = client.get(f"{R}/task", query_string=params, headers=H)
        assert [t["id"] for t in r.json] == expected, (params, r.json)
    r = client.post(f"{R}/task", json={name: value}, headers=H)
    assert [t["id"] for t in r.json] == expected
    count = client.post(f"{R}/task/count", json={name: value}, headers=H)
    assert count.json == {"count": len(expected)}


@pytest.mark.parametrize(
    "path, name, value, found",
    [
        ("/history/process-instance", "startedBefore", "2026-12-03T10:30:00.001+0100", True),
        ("/history/process-instance", "startedAfter", "2026-12-03T10:30:00.001+0100", False),
        ("/history/process-instance", "finishedBefore", "2026-12-03T12:00:00.000+0200", False),
        ("/history/process-instance", "finishedAfter", "2026-12-03T04:59:59.999-0500", True),
        ("/history/activity-instance", "startedAfter", "2026-12-03T09:29:00.000Z", True),
        ("/history/activity-instance", "finishedBefore", "2026-12-03T11:00:00.000+0100", False),
        ("/history/activity-instance", "finishedBefore", "2026-12-03T11:00:00.001+0100", True),
    ],
)
def test_history_date_filters_compare_instants(client, engine, deployed, path, name, value, found):
    """Started at 09:30Z (the case and its task), both ended at 10:00Z."""
    with clock.frozen(T):
        case_id = start(client, "H-1")
    with clock.frozen(datetime(2026, 12, 3, 10, 0, tzinfo=UTC)):
        engine.cancel_case(case_id, "olle", "test")
    only_the_task = {"activityId": "Granska"} if "activity" in path else {}
    r = client.get(f"{R}{path}", query_string={name: value, **only_the_task}, headers=H)
    assert r.status_code == 200, r.json
    assert (case_id in {x.get("processInstanceId", x.get("id")) for x in r.json}) is found, r.json


@pytest.mark.parametrize(
    "path, name",
    [
        ("/task", "dueBefore"),
        ("/task", "createdAfter"),
        ("/history/process-instance", "finishedAfter"),
        ("/history/activity-instance", "startedBefore"),
    ],
)
@pytest.mark.parametrize(
    "value", ["2026-12-03", "03.12.2026 10:00", "2026-12-03T10:00:00", "2026-13-03T10:00:00.000+0100", 5]
)
def test_an_unparseable_date_filter_is_a_400_naming_the_parameter(client, deployed, path, name, value):
    start(client, "X-1")
    requests_ = [client.post(f"{R}{path}", json={name: value}, headers=H)]
    if isinstance(value, str):
        requests_.append(client.get(f"{R}{path}", query_string={name: value}, headers=H))
    for r in requests_:
        assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json
        assert name in r.json["message"]


def test_date_variable_filters_compare_instants_in_the_repeated_autumn_hour(client, deployed):
    """Date variables were compared as Swedish-time text: on 25 October 2026 the hour 02:00–03:00 comes
    twice, so 02:30+02:00 (00:30Z) sorted after 02:15+01:00 (01:15Z) and lt/gt answered the wrong case."""
    start(client, "A", datum=("2026-10-25T02:30:00.000+0200", "Date"))  # 00:30Z
    start(client, "B", datum=("2026-10-25T01:15:00.000Z", "Date"))  # 01:15Z = 02:15+01:00
    start(client, "S", datum=("2026-10-25T02:20:00.000+01:00", "String"))  # text, never a date
    cases = [
        ("lt", "2026-10-25T01:00:00.000Z", ["A"]),
        ("lt", "2026-10-25T02:15:00.000+0100", ["A"]),
        ("lteq", "2026-10-25T02:15:00.000+0100", ["A", "B"]),
        ("gt", "2026-10-25T02:15:00.000+0100", []),
        ("gt", "2026-10-25T02:00:00.000+0100", ["B"]),
        ("gteq", "2026-10-25T00:30:00.000+0000", ["A", "B"]),
        ("eq", "2026-10-25T02:15:00.000+0100", ["B"]),
        ("eq", "2026-10-24T19:30:00.000-0500", ["A"]),
    ]
    for operator, value, expected in cases:
        qs = {"variables": f"datum_{operator}_{value}"}
        assert _keys(client, f"{R}/process-instance", query_string=qs, headers=H) == expected, (
            operator,
            value,
        )
        tasks = client.get(f"{R}/task", query_string={"processVariables": qs["variables"]}, headers=H).json
        assert len(tasks) == len(expected), (operator, value)
        hist = client.get(f"{R}/history/process-instance/count", query_string=qs, headers=H)
        assert hist.json == {"count": len(expected)}
        # A JSON string in Camunda's date format: a Date with Date variables, the text with Strings.
        body = {"variables": [{"name": "datum", "operator": operator, "value": value}]}
        got = _keys(client, f"{R}/process-instance", json=body, headers=H)
        assert [k for k in got if k != "S"] == expected, (operator, value, got)


# --- 3. delegating an unassigned task --------------------------------------------------------------------
def test_an_unassigned_task_can_be_delegated_by_someone_with_its_role(client, engine, deployed):
    """Camunda's TaskEntity.delegate: owner := assignee (none), assignee := the delegate, PENDING. Delaktig
    refused it ("claim it first"). Resolving gives it back to its owner: nobody, so it is open to its role
    again."""
    case_id = start(client, "G-1")
    task_id = granska(client, case_id)
    r = client.post(f"{R}/task/{task_id}/delegate", json={"userId": "nils"}, headers=basic("nils"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"  # not the task's role
    assert _task_row(engine, task_id)[3:] == (None, None, None)
    r = client.post(f"{R}/task/{task_id}/delegate", json={"userId": "nils"}, headers=H)
    assert r.status_code == 204, r.json
    t = client.get(f"{R}/task/{task_id}", headers=basic("nils")).json
    assert (t["assignee"], t["owner"], t["delegationState"]) == ("nils", None, "PENDING")
    with engine.session() as s:
        detail = s.execute(
            sa.select(AuditEvent.detail).where(
                AuditEvent.case_id == case_id, AuditEvent.kind == "task_delegated"
            )
        ).scalar_one()
    assert detail["assignee"] == [None, "nils"] and "owner" not in detail
    # The delegate resolves it: back to its owner, none.
    r = client.post(
        f"{R}/task/{task_id}/resolve",
        json={"variables": {"kommentar": {"value": "ok"}}},
        headers=basic("nils"),
    )
    assert r.status_code == 204, r.json
    assert _task_row(engine, task_id)[3:] == (None, None, "RESOLVED")
    assert [
        t["id"] for t in client.get(f"{R}/task", query_string={"unassigned": "true"}, headers=H).json
    ] == [task_id]


def test_delegating_an_unassigned_task_to_oneself_or_nobody(client, engine, deployed):
    task_id = granska(client, start(client, "G-2"))
    for data in ({}, {"userId": ""}, {"userId": "okand"}):
        r = client.post(f"{R}/task/{task_id}/delegate", json=data, headers=H)
        assert r.status_code == 400 and "userId" in r.json["message"], (data, r.json)
    assert _task_row(engine, task_id)[3:] == (None, None, None)
    # To oneself, as Camunda allows: the delegator works on it and gives it back to nobody.
    assert client.post(f"{R}/task/{task_id}/delegate", json={"userId": "hanna"}, headers=H).status_code == 204
    assert _task_row(engine, task_id)[3:] == ("hanna", None, "PENDING")


# --- engine refusals in English ---------------------------------------------------------------------------
SWEDISH = ("ä", "å", "ö", "Ä", "Å", "Ö")


def _english(r, status: int, type_: str, *words: str) -> None:
    assert r.status_code == status and r.json["type"] == type_, r.json
    message = r.json["message"]
    assert not any(ch in message for ch in SWEDISH), message
    assert all(w in message for w in words), message


def _waiting_for_the_answer(client, engine, bk: str) -> str:
    case_id = start(client, bk)
    task_id = granska(client, case_id)
    done = client.post(f"{R}/task/{task_id}/complete", json={"variables": GOOD}, headers=H)
    assert done.status_code == 204, done.json
    (beslut,) = client.get(
        f"{R}/task", query_string={"processInstanceId": case_id}, headers=basic("nils")
    ).json
    done = client.post(
        f"{R}/task/{beslut['id']}/complete",
        json={"variables": {"beslut": {"value": "bifall"}}},
        headers=basic("nils"),
    )
    assert done.status_code == 204, done.json
    return case_id


def test_refusals_of_starts_and_messages_are_english(client, engine, deployed):
    """The engine's Swedish reached Camunda clients: a business key too long, a message nothing waits
    for, a message two cases wait for, a process that starts by its message started by hand."""
    from tests.conftest import fixture_bytes

    engine.deploy(fixture_bytes("message_start.bpmn"), "synpunkt.bpmn", "olle")
    too_long = {"businessKey": "x" * 201}
    r = client.post(f"{R}/process-definition/key/test_initiativ/start", json=too_long, headers=H)
    _english(r, 400, "InvalidRequestException", "businessKey", "200 characters")
    r = client.post(f"{R}/message", json={"messageName": "svar_mottaget", **too_long}, headers=H)
    _english(r, 400, "InvalidRequestException", "200 characters")
    r = client.post(f"{R}/message", json={"messageName": "ingen"}, headers=H)
    _english(r, 400, "MismatchingMessageCorrelationException", "'ingen'")
    r = client.post(f"{R}/process-definition/key/synpunkt/start", json={}, headers=H)
    _english(r, 400, "InvalidRequestException", "is started by an event")
    for bk in ("M-1", "M-2"):
        _waiting_for_the_answer(client, engine, bk)
    r = client.post(f"{R}/message", json={"messageName": "svar_mottaget"}, headers=basic("nils"))
    _english(r, 400, "MismatchingMessageCorrelationException", "matches 2 waiting")
    r = client.post(
        f"{R}/message", json={"messageName": "svar_mottaget", "businessKey": "M-1"}, headers=basic("nils")
    )
    assert r.status_code == 204, r.json


# --- history: finished and unfinished together ----------------------------------------------------------
HISTORY = (f"{R}/history/process-instance", f"{R}/history/task", f"{R}/history/activity-instance")


@pytest.mark.parametrize("path", HISTORY)
def test_finished_with_unfinished_false_is_answered_not_refused(client, engine, deployed, path):
    """``finished=true&unfinished=false`` (a generated client sends every flag) was a 400 "does not
    support the query parameter unfinished"; both true is no row (nothing is both), as in Camunda."""
    ended = start(client, "F-1")
    engine.cancel_case(ended, "olle", "test")
    running = start(client, "F-2")

    def cases(r) -> set[str]:
        assert r.status_code == 200, r.json
        return {x.get("processInstanceId") or x["id"] for x in r.json}

    for flags, expected in (
        ({"finished": "true", "unfinished": "false"}, {ended}),
        ({"finished": "false", "unfinished": "true"}, {running}),
        ({"finished": "false", "unfinished": "false"}, {ended, running}),
        ({"finished": "true", "unfinished": "true"}, set()),
    ):
        got = cases(client.get(path, query_string=flags, headers=H))
        if (
            path.endswith("activity-instance")
            and flags["unfinished"] == "false"
            and flags["finished"] == "true"
        ):
            assert ended in got and running in got  # the running case's start event has finished
        elif path.endswith("activity-instance") and flags == {"finished": "false", "unfinished": "true"}:
            assert got == {running}
        else:
            assert got == expected, (flags, got)
        as_json = {k: v == "true" for k, v in flags.items()}
        assert cases(client.post(path, json=as_json, headers=H)) == got
        count = client.post(f"{path}/count", json=as_json, headers=H)
        assert count.status_code == 200 and count.json["count"] == len(
            client.post(path, json=as_json, headers=H).json
        )
    both = {"finished": True, "unfinished": True, "processInstanceId": running}
    assert client.post(path, json=both, headers=H).json == []


# --- boolean filters sent as false ------------------------------------------------------------------------
FLAGS_AS_FALSE = [
    (f"{R}/task", ("active", "withoutDueDate", "followUpNullAccepted", "withCommentAttachmentInfo")),
    (f"{R}/process-instance", ("active", "withIncident", "withoutBusinessKey", "rootProcessInstances")),
    (f"{R}/history/process-instance", ("withIncidents", "rootProcessInstances", "completed", "active")),
    (f"{R}/history/task", ("processFinished", "assigned", "withCandidateGroups")),
    (f"{R}/process-definition", ("active", "startableInTasklist", "withoutVersionTag")),
]


@pytest.mark.parametrize("path, flags", FLAGS_AS_FALSE)
def test_a_boolean_filter_sent_as_false_is_no_filter(client, deployed, path, flags):
    """Camunda's query DTOs apply a boolean filter only when it is true; Delaktig answered 400 "does not
    support" for one it does not have even when false (generated clients send every flag). True is still
    refused, naming it: that filter would leave rows out that Delaktig cannot tell."""
    start(client, "B-1")
    plain = client.get(path, headers=H)
    assert plain.status_code == 200 and plain.json, plain.json
    for value in ("false", "False"):
        r = client.get(path, query_string=dict.fromkeys(flags, value), headers=H)
        assert r.status_code == 200 and r.json == plain.json, r.json
    if path.endswith("process-definition"):
        return  # no POST query
    r = client.post(path, json=dict.fromkeys(flags, False), headers=H)
    assert r.status_code == 200 and len(r.json) == len(plain.json), r.json
    unsupported = flags[1]
    r = client.get(path, query_string={unsupported: "true"}, headers=H)
    assert r.status_code == 400 and unsupported in r.json["message"], r.json


@pytest.mark.parametrize(
    "method, path",
    [("get", "/process-definition/statistics"), ("post", "/external-task/retries-async")],
)
def test_camunda_endpoints_delaktig_lacks_say_so(client, deployed, method, path):
    """They were read as a definition "statistics" (404 "No matching definition") and as a 405 of
    ``/external-task/{id}``."""
    r = getattr(client, method)(f"{R}{path}", json={}, headers=basic("olle"))
    assert r.status_code == 404 and r.json["type"] == "InvalidRequestException", r.json
    assert r.json["message"].startswith(f"Delaktig does not offer {method.upper()} /engine-rest{path}")


def _staff_login(app, name: str):
    """A staff-page session (the sign-in form, with its CSRF token)."""
    import re

    c = app.test_client()
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    page = c.get("/logga-in").get_data(as_text=True)
    r = c.post(
        "/logga-in", data={"username": name, "password": PASSWORD, "csrf_token": token.search(page)[1]}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    return c, token


def test_a_task_delegated_while_unassigned_can_be_given_back_on_the_staff_page(app, client, engine, deployed):
    """Delegated through the REST API while no one held it, the task has no owner: the staff page showed
    the delegate only "Slutför" (refused for a PENDING task) and no way to give it back."""
    case_id = start(client, "G-3")
    task_id = granska(client, case_id)
    assert (
        client.post(f"{R}/task/{task_id}/delegate", json={"userId": "henrik"}, headers=H).status_code == 204
    )
    c, token = _staff_login(app, "henrik")
    page = c.get(f"/uppgifter/{task_id}").get_data(as_text=True)
    assert 'id="resolve"' in page and 'id="complete"' not in page and "None" not in page
    r = c.post(
        f"/uppgifter/{task_id}/lamna-tillbaka",
        data={"csrf_token": token.search(page)[1], "kommentar": "klart", "skal": "", "antal": ""},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    assert _task_row(engine, task_id)[3:] == (None, None, "RESOLVED")

"""Who may start a routine, send a message into a case and hand a task on — over the API, by the same
rules as the staff pages: starting needs a starter role of the routine; a message goes only into a case
the sender takes part in; a task someone holds is theirs to hand on, and only to someone who may do it."""

from __future__ import annotations

from engine.models import Case
from tests.conftest import fixture_bytes
from tests.rest.conftest import PASSWORD, basic
from tests.rest.test_tasks import granska, start

START = "/engine-rest/process-definition/key/test_initiativ/start"


def test_starting_needs_a_starter_role(client, engine, deployed):
    engine.add_user("rollos", PASSWORD, [])
    for user in ("rollos", "olle"):  # no role at all; a process owner who works in none of its roles
        r = client.post(START, json={"businessKey": f"X-{user}"}, headers=basic(user))
        assert r.status_code == 403 and r.json["type"] == "AuthorizationException", (user, r.json)
    assert client.post(START, json={"businessKey": "N-1"}, headers=basic("nils")).status_code == 200  # namnd
    # With camunda:candidateStarterGroups those roles alone may start it.
    xml = fixture_bytes("initiativ.bpmn").replace(
        b'<bpmn:process id="test_initiativ"',
        b'<bpmn:process camunda:candidateStarterGroups="handlaggare" id="test_initiativ"',
    )
    engine.deploy(xml, "initiativ.bpmn", "olle")
    r = client.post(START, json={"businessKey": "N-2"}, headers=basic("nils"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    assert client.post(START, json={"businessKey": "H-1"}, headers=basic("hanna")).status_code == 200
    with engine.session() as s:
        assert {c.business_key for c in s.query(Case)} == {"N-1", "H-1"}  # nothing else was started


def test_messages_only_into_cases_the_sender_takes_part_in(client, engine):
    engine.deploy(fixture_bytes("message_start.bpmn"), "message_start.bpmn", "olle")
    engine.add_user("rollos", PASSWORD, [])
    started = {"messageName": "synpunkt_inkommen", "businessKey": "S-1", "resultEnabled": True}
    # A message start event starts a case only for a starter role (here: handlaggare, its task's group).
    for user in ("rollos", "nils"):
        r = client.post("/engine-rest/message", json=started, headers=basic(user))
        assert r.status_code == 403 and r.json["type"] == "AuthorizationException", (user, r.json)
    r = client.post("/engine-rest/message", json=started, headers=basic("hanna"))
    assert r.status_code == 200 and r.json[0]["resultType"] == "ProcessDefinition"
    case_id = r.json[0]["processInstance"]["id"]
    task = granska(client, case_id)
    assert (
        client.post(f"/engine-rest/task/{task}/complete", json={}, headers=basic("hanna")).status_code == 204
    )
    # The case waits for "komplettering": nils (namnd) has no part in it and may not resume it.
    waiting = {"messageName": "komplettering", "businessKey": "S-1"}
    r = client.post("/engine-rest/message", json=waiting, headers=basic("nils"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    with engine.session() as s:
        assert s.get(Case, case_id).status == "active"  # nothing changed
    assert client.post("/engine-rest/message", json=waiting, headers=basic("henrik")).status_code == 204
    with engine.session() as s:
        assert s.get(Case, case_id).status == "completed"


def test_a_held_task_is_handed_on_by_its_holder_to_someone_who_may_do_it(client, engine, deployed):
    case_id = start(client, "A-1")
    task = granska(client, case_id)
    assert client.post(f"/engine-rest/task/{task}/claim", json={}, headers=basic("hanna")).status_code == 204

    def assign(by: str, to: str | None):
        return client.post(f"/engine-rest/task/{task}/assignee", json={"userId": to}, headers=basic(by))

    for to in ("henrik", None):  # henrik may do the task, but hanna holds it
        r = assign("henrik", to)
        # a refusal of henrik (403, as Camunda's), not a server fault
        assert r.status_code == 403 and "hanna" in r.json["message"], r.json
        assert r.json["type"] == "AuthorizationException"
    r = assign("hanna", "nils")  # nils (namnd) may not do it: no handing the case to him
    assert r.status_code == 400 and r.json["problems"][0]["field"] == "userId", r.json
    assert assign("hanna", "ingen-sadan").status_code == 400
    r = client.get(f"/engine-rest/task/{task}", headers=basic("hanna"))
    assert r.json["assignee"] == "hanna"  # none of that changed anything
    assert assign("hanna", "henrik").status_code == 204
    assert client.get(f"/engine-rest/task/{task}", headers=basic("henrik")).json["assignee"] == "henrik"
    assert assign("henrik", None).status_code == 204  # and he may give it back to the group
    assert client.get(f"/engine-rest/task/{task}", headers=basic("hanna")).json["assignee"] is None


def test_a_routine_started_by_a_message_is_not_started_by_hand(client, engine):
    """As Camunda 7: only a process with a none start event starts by hand; this one waits for its message
    (here, the intake's), so a person cannot bypass it with the start button."""
    engine.deploy(fixture_bytes("message_start.bpmn"), "message_start.bpmn", "olle")
    r = client.post("/engine-rest/process-definition/key/synpunkt/start", json={}, headers=basic("hanna"))
    assert r.status_code == 400 and "send the message instead" in r.json["message"], r.json
    with engine.session() as s:
        assert s.query(Case).count() == 0


def test_correlating_to_all_when_none_waits_is_no_error(client, deployed):
    """Camunda's correlateAll returns what it matched, possibly nothing; only a single correlation fails."""
    h = basic("hanna")
    assert (
        client.post(
            "/engine-rest/message", json={"messageName": "svar_mottaget", "all": True}, headers=h
        ).status_code
        == 204
    )
    r = client.post(
        "/engine-rest/message",
        json={"messageName": "svar_mottaget", "all": True, "resultEnabled": True},
        headers=h,
    )
    assert r.status_code == 200 and r.json == []
    r = client.post("/engine-rest/message", json={"messageName": "svar_mottaget"}, headers=h)
    assert r.status_code == 400 and r.json["type"] == "MismatchingMessageCorrelationException"


def test_task_lists_by_priority_instances_keys_and_assignees(client, deployed):
    a, b = start(client, "L-1"), start(client, "L-2")
    h = basic("hanna")
    assert client.post(f"/engine-rest/task/{granska(client, a)}/claim", json={}, headers=h).status_code == 204
    got = client.get(
        "/engine-rest/task",
        query_string={"processInstanceIdIn": f"{a},{b}", "sortBy": "executionId", "sortOrder": "asc"},
        headers=h,
    ).json
    assert sorted(t["processInstanceId"] for t in got) == sorted([a, b])
    assert [t["processInstanceId"] for t in got] == sorted([a, b])
    assert [
        t["processInstanceId"]
        for t in client.get("/engine-rest/task", query_string={"assigneeIn": "hanna"}, headers=h).json
    ] == [a]
    assert (
        len(
            client.get(
                "/engine-rest/task", query_string={"taskDefinitionKeyIn": "Granska,Beslut"}, headers=h
            ).json
        )
        == 2
    )
    assert (
        client.get("/engine-rest/task", query_string={"taskDefinitionKeyIn": "Beslut"}, headers=h).json == []
    )
    prio = got[0]["priority"]
    assert len(client.get("/engine-rest/task", query_string={"priority": prio}, headers=h).json) == 2
    assert client.get("/engine-rest/task", query_string={"priority": prio + 1}, headers=h).json == []

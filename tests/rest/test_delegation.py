"""``POST /task/{id}/delegate`` and ``…/resolve`` as Camunda 7 answers them: the task's ``owner`` and
``delegationState`` in its JSON (and HAL, identity links, history), the ``owner``, ``delegationState``
and ``involvedUser`` filters, submit-form resolving a delegated task, and the refusals — each with
nothing changed."""

from __future__ import annotations

import sqlalchemy as sa

from engine.models import AuditEvent, Case
from tests.rest.conftest import basic

R = "/engine-rest"
HAL = {"Accept": "application/hal+json"}
GOOD = {"fragan_paverkbar": {"value": True}, "kommentar": {"value": "klart"}}


def _task(engine, client, holder: str | None = "hanna") -> tuple[str, str]:
    info = engine.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    [t] = client.get(f"{R}/task?processInstanceId={info.id}", headers=basic("hanna")).json
    if holder:
        assert client.post(f"{R}/task/{t['id']}/claim", json={}, headers=basic(holder)).status_code == 204
    return info.id, t["id"]


def _get(client, task_id: str, who: str) -> dict:
    r = client.get(f"{R}/task/{task_id}", headers=basic(who))
    assert r.status_code == 200, r.json
    return r.json


def _state(engine, case_id: str):
    with engine.session() as s:
        case = s.get(Case, case_id)
        n = s.execute(sa.select(sa.func.count()).where(AuditEvent.case_id == case_id)).scalar_one()
        from engine.models import UserTask

        tasks = s.execute(
            sa.select(
                UserTask.id, UserTask.assignee, UserTask.owner, UserTask.delegation_state, UserTask.state
            )
            .where(UserTask.case_id == case_id)
            .order_by(UserTask.id)
        ).all()
        return case.version, case.data, [tuple(t) for t in tasks], n


def _ids(client, query: str, who: str = "hanna") -> set[str]:
    r = client.get(f"{R}/task{query}", headers=basic(who))
    assert r.status_code == 200, r.json
    return {t["id"] for t in r.json}


def test_delegate_and_resolve_round_trip(client, engine, deployed):
    case, task = _task(engine, client)
    t = _get(client, task, "hanna")
    assert (t["owner"], t["delegationState"]) == (None, None)
    r = client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("hanna"))
    assert r.status_code == 204, r.json
    t = _get(client, task, "henrik")
    assert (t["assignee"], t["owner"], t["delegationState"]) == ("henrik", "hanna", "PENDING")
    # Completing a delegated task is refused, as Camunda refuses it; nothing changed.
    before = _state(engine, case)
    r = client.post(f"{R}/task/{task}/complete", json={"variables": GOOD}, headers=basic("henrik"))
    assert r.status_code == 500 and r.json["type"] == "ProcessEngineException"
    assert "A delegated task cannot be completed, but should be resolved instead." in r.json["message"]
    assert _state(engine, case) == before
    # Resolve: the variables set, the task back with its owner, not completed.
    variables = {"kommentar": {"value": "underlag", "type": "String"}, "antal": {"value": 7, "type": "Long"}}
    r = client.post(f"{R}/task/{task}/resolve", json={"variables": variables}, headers=basic("henrik"))
    assert r.status_code == 204, r.json
    t = _get(client, task, "hanna")
    assert (t["assignee"], t["owner"], t["delegationState"]) == ("hanna", "hanna", "RESOLVED")
    v = client.get(f"{R}/task/{task}/variables", headers=basic("hanna")).json
    assert v["kommentar"]["value"] == "underlag" and v["antal"] == {
        "value": 7,
        "type": "Long",
        "valueInfo": {},
    }
    with engine.session() as s:
        kinds = [
            k
            for (k,) in s.execute(sa.select(AuditEvent.kind).where(AuditEvent.case_id == case))
            if "task_" in k
        ]
    assert kinds[-2:] == ["task_delegated", "task_resolved"]
    # The owner completes it now.
    r = client.post(f"{R}/task/{task}/complete", json={"variables": GOOD}, headers=basic("hanna"))
    assert r.status_code == 204, r.json
    h = client.get(f"{R}/history/task?taskId={task}", headers=basic("hanna")).json
    assert h[0]["owner"] == "hanna" and h[0]["deleteReason"] == "completed"
    assert [
        x["id"] for x in client.get(f"{R}/history/task?taskOwner=hanna", headers=basic("hanna")).json
    ] == [task]


def test_owner_in_hal_and_identity_links(client, engine, deployed):
    _case, task = _task(engine, client)
    client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("hanna"))
    links = client.get(f"{R}/task/{task}/identity-links", headers=basic("henrik")).json
    assert {"userId": "hanna", "groupId": None, "type": "owner"} in links
    owner_only = client.get(f"{R}/task/{task}/identity-links?type=owner", headers=basic("henrik")).json
    assert [x["userId"] for x in owner_only] == ["hanna"]
    one = client.get(f"{R}/task/{task}", headers={**basic("henrik"), **HAL}).json
    assert one["owner"] == "hanna" and one["_links"]["owner"] == {"href": "/user/hanna"}
    listed = client.get(f"{R}/task?taskId={task}", headers={**basic("henrik"), **HAL}).json
    assert [u["id"] for u in listed["_embedded"]["owner"]] == ["hanna"]


def test_owner_delegation_state_and_involved_user_filters(client, engine, deployed):
    _c1, delegated = _task(engine, client)
    _c2, resolved = _task(engine, client)
    _c3, plain = _task(engine, client)
    for task in (delegated, resolved):
        r = client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("hanna"))
        assert r.status_code == 204
    client.post(f"{R}/task/{resolved}/resolve", json={}, headers=basic("henrik"))
    assert _ids(client, "?owner=hanna") == {delegated, resolved}
    assert _ids(client, "?ownerExpression=${currentUser()}") == {delegated, resolved}
    assert _ids(client, "?delegationState=PENDING") == {delegated}
    assert _ids(client, "?delegationState=resolved") == {resolved}
    assert _ids(client, "?owner=hanna&delegationState=PENDING") == {delegated}
    assert _ids(client, "?owner=henrik") == set()
    # involvedUser: the assignee, the owner, a candidate user (Camunda's Task.xml).
    assert _ids(client, "?involvedUser=hanna") == {delegated, resolved, plain}
    assert _ids(client, "?involvedUser=henrik", who="henrik") == {delegated}
    r = client.post(
        f"{R}/task", json={"owner": "hanna", "delegationState": "PENDING"}, headers=basic("hanna")
    )
    assert [t["id"] for t in r.json] == [delegated]
    count = client.post(f"{R}/task/count", json={"delegationState": "PENDING"}, headers=basic("hanna"))
    assert count.json == {"count": 1}
    r = client.get(f"{R}/task?delegationState=KLAR", headers=basic("hanna"))
    assert r.status_code == 400 and "delegationState" in r.json["message"]


def test_refusals_change_nothing(client, engine, deployed):
    case, task = _task(engine, client)
    before = _state(engine, case)
    # A task held by a colleague: 403, as for its other actions.
    r = client.post(f"{R}/task/{task}/delegate", json={"userId": "nils"}, headers=basic("henrik"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    # Another role's task: 403.
    r = client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("nils"))
    assert r.status_code == 403
    # Bad userId: a 400 naming it.
    for data in ({}, {"userId": None}, {"userId": 5}, {"userId": "saknas"}, {"userId": "hanna"}):
        r = client.post(f"{R}/task/{task}/delegate", json=data, headers=basic("hanna"))
        assert r.status_code == 400 and "userId" in r.json["message"], (data, r.json)
    r = client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik", "x": 1}, headers=basic("hanna"))
    assert r.status_code == 400 and "x" in r.json["message"]
    # Resolving a task that is not delegated: Camunda's ProcessEngineException.
    r = client.post(f"{R}/task/{task}/resolve", json={}, headers=basic("hanna"))
    assert r.status_code == 500 and r.json["type"] == "ProcessEngineException"
    assert "not delegated" in r.json["message"]
    r = client.post(f"{R}/task/saknas/resolve", json={}, headers=basic("hanna"))
    assert r.status_code == 404
    assert _state(engine, case) == before
    # Delegated: only the delegate resolves it; a bad variable is a 400 naming it.
    client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("hanna"))
    before = _state(engine, case)
    r = client.post(f"{R}/task/{task}/resolve", json={}, headers=basic("hanna"))
    assert r.status_code == 403 and "henrik" in r.json["message"]
    bad = {"variables": {"antal": {"value": "tolv", "type": "String"}}}
    r = client.post(f"{R}/task/{task}/resolve", json=bad, headers=basic("henrik"))
    assert r.status_code == 400 and r.json["problems"][0]["field"] == "antal"
    assert _state(engine, case) == before
    # PUT /task/{id} takes owner and delegationState back as they are, and refuses a change.
    t = _get(client, task, "henrik")
    assert client.put(f"{R}/task/{task}", json=t, headers=basic("henrik")).status_code == 204
    r = client.put(f"{R}/task/{task}", json={**t, "owner": "henrik"}, headers=basic("henrik"))
    assert r.status_code == 400 and "owner" in r.json["message"]
    assert _state(engine, case) == before


def test_submit_form_of_a_delegated_task_resolves_it(client, engine, deployed):
    case, task = _task(engine, client)
    client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("hanna"))
    form = {"variables": {"kommentar": {"value": "svar"}}}
    r = client.post(f"{R}/task/{task}/submit-form", json=form, headers=basic("henrik"))
    assert r.status_code == 204, r.json
    t = _get(client, task, "hanna")
    assert (t["assignee"], t["delegationState"]) == ("hanna", "RESOLVED")
    # As a form submit: only the form's fields.
    client.post(f"{R}/task/{task}/delegate", json={"userId": "henrik"}, headers=basic("hanna"))
    extra = {"variables": {"smuggel": {"value": 1}}}
    r = client.post(f"{R}/task/{task}/submit-form", json=extra, headers=basic("henrik"))
    assert r.status_code == 400 and "smuggel" in r.json["message"]

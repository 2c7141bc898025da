"""What Camunda Tasklist (and camunda-bpm-sdk-js) calls beyond claim and complete (probe 8, F6–F8): start
forms, ``PUT /task/{id}``, comments, adding and removing identity links, and the task query parameters
of Tasklist's default filters. Each change is audited, checked against the user's roles, and a bad body
is a 400 naming the field with nothing changed."""

from __future__ import annotations

import io
import threading

import sqlalchemy as sa

from engine.errors import Conflict
from engine.models import AuditEvent, TaskCandidate, UserTask
from tests.engine.test_modeler_constructs import diagram, flow, task
from tests.rest.conftest import basic

R = "/engine-rest"
START_FORM = (
    '<bpmn:startEvent id="S"><bpmn:extensionElements><camunda:formData>'
    '<camunda:formField id="titel" label="Titel" type="string" defaultValue="Ny ansökan" />'
    '<camunda:formField id="antal" type="long" defaultValue="3" />'
    '<camunda:formField id="brådskande" type="boolean" />'
    '<camunda:formField id="från" type="string" defaultValue="${kontakt}" />'
    "</camunda:formData></bpmn:extensionElements></bpmn:startEvent>"
)
XML = diagram(
    START_FORM
    + task("Granska")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Granska")
    + flow("F2", "Granska", "E"),
    pid="tasklist",
)
KEYED = diagram(
    '<bpmn:startEvent id="S" camunda:formKey="embedded:app:forms/start.html" />'
    + task("Granska")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Granska")
    + flow("F2", "Granska", "E"),
    pid="keyed",
)


def _deploy(client, xml: bytes, name: str) -> None:
    r = client.post(
        f"{R}/deployment/create",
        data={"deployment-name": name, f"{name}.bpmn": (io.BytesIO(xml), f"{name}.bpmn")},
        headers=basic("olle"),
    )
    assert r.status_code == 200, r.json


def _start(client, key: str = "tasklist", who: str = "hanna") -> tuple[str, dict]:
    r = client.post(f"{R}/process-definition/key/{key}/start", json={}, headers=basic(who))
    assert r.status_code == 200, r.json
    case = r.json["id"]
    [t] = client.get(f"{R}/task?processInstanceId={case}", headers=basic(who)).json
    return case, t


def _rows(engine, case: str, kind: str) -> list[AuditEvent]:
    with engine.session() as s:
        return list(
            s.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.chain == case, AuditEvent.kind == kind)
                .order_by(AuditEvent.seq)
            ).scalars()
        )


# --- F6: start forms ----------------------------------------------------------------------------------------
def test_start_form_key_and_variables_by_id_and_key(client, engine):
    _deploy(client, XML, "tasklist")
    _deploy(client, KEYED, "keyed")
    pd = client.get(f"{R}/process-definition/key/tasklist", headers=basic("hanna")).json
    for path in (f"/process-definition/{pd['id']}", "/process-definition/key/tasklist"):
        r = client.get(f"{R}{path}/startForm", headers=basic("hanna"))
        assert r.status_code == 200 and r.json == {"key": None, "contextPath": None, "camundaFormRef": None}
        fv = client.get(f"{R}{path}/form-variables", headers=basic("hanna")).json
        assert fv == {
            "titel": {"type": "String", "value": "Ny ansökan", "valueInfo": {}},
            "antal": {"type": "Long", "value": 3, "valueInfo": {}},  # in the field's type
            "brådskande": {"type": "Boolean", "value": None, "valueInfo": {}},
            # Nothing exists before the start: a ${variable} default is null.
            "från": {"type": "String", "value": None, "valueInfo": {}},
        }
    named = client.get(
        f"{R}/process-definition/key/tasklist/form-variables?variableNames=titel,saknas&deserializeValues=false",
        headers=basic("hanna"),
    ).json
    assert list(named) == ["titel"]
    keyed = client.get(f"{R}/process-definition/key/keyed/startForm", headers=basic("hanna")).json
    assert keyed["key"] == "embedded:app:forms/start.html"
    assert client.get(f"{R}/process-definition/key/keyed/form-variables", headers=basic("hanna")).json == {}


def test_start_form_needs_a_starter_role_and_a_known_definition(client, engine):
    _deploy(client, XML, "tasklist")
    r = client.get(f"{R}/process-definition/key/tasklist/startForm", headers=basic("nils"))
    assert r.status_code == 403 and r.json["type"] == "AuthorizationException"
    assert r.json["missingAuthorizations"][0]["permissionName"] == "CREATE_INSTANCE"
    assert (
        client.get(f"{R}/process-definition/key/tasklist/form-variables", headers=basic("nils")).status_code
        == 403
    )
    assert (
        client.get(f"{R}/process-definition/key/saknas/startForm", headers=basic("hanna")).status_code == 404
    )
    assert (
        client.get(f"{R}/process-definition/saknas:1:x/form-variables", headers=basic("hanna")).status_code
        == 404
    )
    r = client.get(
        f"{R}/process-definition/key/tasklist/form-variables?variabelNamn=x", headers=basic("hanna")
    )
    assert r.status_code == 400 and "variabelNamn" in r.json["message"]


# --- F7: PUT /task/{id} ---------------------------------------------------------------------------------------
def test_put_back_a_changed_task_changes_what_was_changed_and_audits_it(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    changed = {**t, "name": "Granska ansökan", "due": "2031-05-01T12:00:00.000+0200", "priority": 70}
    r = client.put(f"{R}/task/{t['id']}", json=changed, headers=basic("hanna"))
    assert r.status_code == 204, r.json
    now = client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json
    assert (now["name"], now["due"], now["priority"]) == (
        "Granska ansökan",
        "2031-05-01T10:00:00.000+0000",
        70,
    )
    assert now["assignee"] is None and now["followUp"] is None and now["description"] is None
    [row] = _rows(engine, case, "task_updated")
    assert row.actor == "hanna" and row.task_id == t["id"]
    assert row.detail["changes"]["name"] == ["Granska", "Granska ansökan"]
    assert row.detail["changes"]["priority"] == [50, 70]
    assert row.detail["changes"]["due_at"][0] is None and row.detail["changes"]["due_at"][1].startswith(
        "2031-05-01T10:00"
    )
    # The due date is what the inbox and reminders read: the task is found by it.
    found = client.get(f"{R}/task?dueAfter=2031-05-01T00:00:00.000+0000", headers=basic("hanna")).json
    assert [x["id"] for x in found] == [t["id"]]
    # PUT back unchanged (the GET's own fields): no change, no audit row.
    assert client.put(f"{R}/task/{t['id']}", json=now, headers=basic("hanna")).status_code == 204
    assert len(_rows(engine, case, "task_updated")) == 1
    # A partial body changes what it gives and keeps the rest (Camunda would null the others).
    r = client.put(
        f"{R}/task/{t['id']}",
        json={"followUp": "2031-04-01T08:00:00.000+0000", "description": "Se bilaga"},
        headers=basic("hanna"),
    )
    assert r.status_code == 204
    now2 = client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json
    assert now2["name"] == "Granska ansökan" and now2["due"] == now["due"] and now2["priority"] == 70
    assert now2["followUp"] == "2031-04-01T08:00:00.000+0000" and now2["description"] == "Se bilaga"
    # null clears a date
    assert client.put(f"{R}/task/{t['id']}", json={"due": None}, headers=basic("hanna")).status_code == 204
    assert client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json["due"] is None


def test_put_task_bad_input_is_a_400_naming_the_field_and_changes_nothing(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    bad = [
        ({"priority": "hög"}, "priority"),
        ({"priority": None}, "priority"),
        ({"name": "x" * 301}, "name"),
        ({"due": "imorgon"}, "due"),
        ({"owner": "hanna"}, "owner"),
        ({"delegationState": "PENDING"}, "delegationState"),
        ({"tenantId": "t1"}, "tenantId"),
        ({"parentTaskId": "p"}, "parentTaskId"),
        ({"caseInstanceId": "c"}, "caseInstanceId"),
        ({"id": "annan"}, "id"),
        ({"processInstanceId": "annan"}, "processInstanceId"),
        ({"prioritet": 3}, "prioritet"),
        ({"name": "ok", "assignee": "nils"}, "assignee"),  # nils has not the task's role
        ({"name": "ok", "assignee": "saknas"}, "assignee"),
    ]
    for data, field in bad:
        r = client.put(f"{R}/task/{t['id']}", json=data, headers=basic("hanna"))
        assert r.status_code == 400, (data, r.json)
        assert field in r.json["message"], (data, r.json)
    assert client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json == t
    assert _rows(engine, case, "task_updated") == [] and _rows(engine, case, "task_reassigned") == []
    assert client.put(f"{R}/task/saknas", json={"name": "x"}, headers=basic("hanna")).status_code == 404


def test_put_task_rights_and_assignee(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    # Another role: 403, nothing changed.
    r = client.put(f"{R}/task/{t['id']}", json={"name": "Nils"}, headers=basic("nils"))
    assert r.status_code == 403
    # The assignee given as it is: no reassignment. A new one by set_assignee's rules.
    r = client.put(
        f"{R}/task/{t['id']}", json={**t, "assignee": "hanna", "priority": 60}, headers=basic("hanna")
    )
    assert r.status_code == 204
    now = client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json
    assert now["assignee"] == "hanna" and now["priority"] == 60
    [row] = _rows(engine, case, "task_reassigned")
    assert row.detail == {"assignee": [None, "hanna"]}
    # Held by hanna: a colleague may not change it.
    r = client.put(f"{R}/task/{t['id']}", json={"priority": 1}, headers=basic("henrik"))
    assert r.status_code == 403 and "hanna" in r.json["message"]
    assert client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json["priority"] == 60
    # The holder hands it on.
    assert (
        client.put(f"{R}/task/{t['id']}", json={"assignee": "henrik"}, headers=basic("hanna")).status_code
        == 204
    )
    assert client.get(f"{R}/task/{t['id']}", headers=basic("henrik")).json["assignee"] == "henrik"


def test_concurrent_updates_are_serialised_never_lost(engine, client):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    results: list[str] = []
    barrier = threading.Barrier(6)

    def update(priority: int) -> None:
        barrier.wait()
        try:
            engine.update_task(t["id"], "hanna", {"priority": priority}, roles={"handlaggare"})
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=update, args=(p,)) for p in range(1, 7)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    rows = _rows(engine, case, "task_updated")
    assert len(rows) == results.count("ok") >= 1
    # Each change starts from the one before: nobody overwrote a value they never saw.
    chain = [r.detail["changes"]["priority"] for r in rows]
    assert chain[0][0] == 50
    assert all(a[1] == b[0] for a, b in zip(chain, chain[1:], strict=False))
    with engine.session() as s:
        assert s.get(UserTask, t["id"]).priority == chain[-1][1]


# --- F7: comments -------------------------------------------------------------------------------------------
def test_comments_are_audit_rows_on_the_case(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    r = client.post(
        f"{R}/task/{t['id']}/comment/create",
        json={"message": "Ring sökanden <b>först</b>"},
        headers=basic("hanna"),
    )
    assert r.status_code == 200, r.json
    c = r.json
    assert set(c) == {
        "id",
        "userId",
        "taskId",
        "processInstanceId",
        "time",
        "message",
        "removalTime",
        "rootProcessInstanceId",
        "links",
    }
    assert (c["userId"], c["taskId"], c["processInstanceId"], c["message"]) == (
        "hanna",
        t["id"],
        case,
        "Ring sökanden <b>först</b>",
    )
    assert c["links"][0]["href"].endswith(f"/task/{t['id']}/comment/{c['id']}") and c["removalTime"] is None
    r = client.post(
        f"{R}/task/{t['id']}/comment/create",
        json={"message": "Klart", "processInstanceId": case},
        headers=basic("henrik"),
    )
    assert r.status_code == 200
    listed = client.get(f"{R}/task/{t['id']}/comment", headers=basic("hanna")).json
    assert [x["message"] for x in listed] == ["Klart", "Ring sökanden <b>först</b>"]  # newest first
    one = client.get(f"{R}/task/{t['id']}/comment/{c['id']}", headers=basic("henrik")).json
    assert one == {**c, "links": []}
    assert client.get(f"{R}/task/{t['id']}/comment/saknas", headers=basic("hanna")).status_code == 404
    rows = _rows(engine, case, "comment")
    assert [(r.actor, r.task_id, r.detail["message"]) for r in rows] == [
        ("hanna", t["id"], "Ring sökanden <b>först</b>"),
        ("henrik", t["id"], "Klart"),
    ]
    assert engine.verify_audit(case) == []
    # Still readable once the task is done; no new ones on it.
    assert client.post(f"{R}/task/{t['id']}/complete", json={}, headers=basic("hanna")).status_code == 204
    assert len(client.get(f"{R}/task/{t['id']}/comment", headers=basic("hanna")).json) == 2
    r = client.post(f"{R}/task/{t['id']}/comment/create", json={"message": "Sent"}, headers=basic("hanna"))
    assert r.status_code == 400


def test_comment_bad_input_and_rights(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    url = f"{R}/task/{t['id']}/comment/create"
    for data, field in (
        ({}, "message"),
        ({"message": "   "}, "message"),
        ({"message": 3}, "message"),
        ({"message": "x" * 10_001}, "message"),
        ({"message": "ok", "processInstanceId": "annat"}, "processInstanceId"),
        ({"message": "ok", "userId": "olle"}, "userId"),
        ({"message": "ok", "text": "x"}, "text"),
    ):
        r = client.post(url, json=data, headers=basic("hanna"))
        assert r.status_code == 400 and field in r.json["message"], (data, r.json)
    assert client.post(url, json={"message": "x" * 10_000}, headers=basic("hanna")).status_code == 200
    r = client.post(url, json={"message": "hej"}, headers=basic("nils"))
    assert r.status_code == 403
    assert client.get(f"{R}/task/{t['id']}/comment", headers=basic("nils")).status_code == 403
    assert client.get(f"{R}/task/saknas/comment", headers=basic("hanna")).status_code == 404
    assert (
        client.post(
            f"{R}/task/saknas/comment/create", json={"message": "x"}, headers=basic("hanna")
        ).status_code
        == 400
    )
    assert len(_rows(engine, case, "comment")) == 1


def test_the_case_page_shows_comments_escaped(app, client, engine):
    from tests.web.conftest import Staff

    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    client.post(
        f"{R}/task/{t['id']}/comment/create",
        json={"message": "<script>alert(1)</script>"},
        headers=basic("hanna"),
    )
    staff = Staff(app)
    staff.login("hanna", "hemligt123")
    page = staff.get(f"/arenden/{case}").get_data(as_text=True)
    assert "Kommentar" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


# --- F7: identity links ---------------------------------------------------------------------------------------
def test_a_process_manager_adds_and_removes_candidates(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    links = f"{R}/task/{t['id']}/identity-links"
    # Not a process manager: 403, nothing changed.
    r = client.post(links, json={"userId": "nils", "type": "candidate"}, headers=basic("hanna"))
    assert r.status_code == 403
    assert client.get(f"{R}/task/{t['id']}", headers=basic("nils")).status_code == 403
    assert (
        client.post(links, json={"userId": "nils", "type": "candidate"}, headers=basic("olle")).status_code
        == 204
    )
    # nils may now see and claim it.
    assert [x["id"] for x in client.get(f"{R}/task", headers=basic("nils")).json] == [t["id"]]
    got = client.get(links, headers=basic("hanna")).json
    assert {"userId": "nils", "groupId": None, "type": "candidate"} in got
    assert (
        client.post(links, json={"groupId": "namnd", "type": "candidate"}, headers=basic("olle")).status_code
        == 204
    )
    with engine.session() as s:
        rows = {
            (c.kind, c.value)
            for c in s.execute(sa.select(TaskCandidate).where(TaskCandidate.task_id == t["id"])).scalars()
        }
    assert rows == {("group", "handlaggare"), ("group", "namnd"), ("user", "nils")}
    # Adding again changes nothing.
    assert (
        client.post(links, json={"userId": "nils", "type": "candidate"}, headers=basic("olle")).status_code
        == 204
    )
    assert (
        client.post(
            f"{links}/delete", json={"userId": "nils", "type": "candidate"}, headers=basic("olle")
        ).status_code
        == 204
    )
    assert (
        client.post(
            f"{links}/delete", json={"groupId": "namnd", "type": "candidate"}, headers=basic("olle")
        ).status_code
        == 204
    )
    assert client.get(f"{R}/task/{t['id']}", headers=basic("nils")).status_code == 403
    rows = _rows(engine, case, "task_candidates_changed")
    assert [r.detail for r in rows] == [
        {"candidate_users": [[], ["nils"]]},
        {"candidate_groups": [["handlaggare"], ["handlaggare", "namnd"]]},
        {"candidate_users": [["nils"], []]},
        {"candidate_groups": [["handlaggare", "namnd"], ["handlaggare"]]},
    ]
    assert all(r.actor == "olle" for r in rows)


def test_identity_link_bad_input(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    links = f"{R}/task/{t['id']}/identity-links"
    for data, word in (
        ({"userId": "nils"}, "type"),
        ({"userId": "nils", "groupId": "namnd", "type": "candidate"}, "userId"),
        ({"type": "candidate"}, "userId"),
        ({"userId": "nils", "type": "owner"}, "owner"),
        ({"userId": "nils", "type": "watcher"}, "watcher"),
        ({"groupId": "namnd", "type": "assignee"}, "groupId"),
        ({"userId": "saknas", "type": "candidate"}, "userId"),
        ({"groupId": "ingen_roll", "type": "candidate"}, "groupId"),
        ({"userId": "nils", "type": "candidate", "extra": 1}, "extra"),
    ):
        r = client.post(links, json=data, headers=basic("olle"))
        assert r.status_code == 400 and word in r.json["message"], (data, r.json)
    # The last candidate of an unassigned task stays: nobody could do it otherwise.
    r = client.post(
        f"{links}/delete", json={"groupId": "handlaggare", "type": "candidate"}, headers=basic("olle")
    )
    assert r.status_code == 400 and "groupId" in r.json["message"]
    assert _rows(engine, case, "task_candidates_changed") == []
    assert (
        client.post(
            f"{R}/task/saknas/identity-links",
            json={"groupId": "namnd", "type": "candidate"},
            headers=basic("olle"),
        ).status_code
        == 404
    )


def test_assignee_links_are_set_assignee(client, engine):
    _deploy(client, XML, "tasklist")
    case, t = _start(client)
    links = f"{R}/task/{t['id']}/identity-links"
    assert (
        client.post(links, json={"userId": "hanna", "type": "assignee"}, headers=basic("hanna")).status_code
        == 204
    )
    assert client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json["assignee"] == "hanna"
    r = client.post(links, json={"userId": "henrik", "type": "assignee"}, headers=basic("henrik"))
    assert r.status_code == 403  # held by hanna: hers to hand on
    r = client.post(links, json={"userId": "nils", "type": "assignee"}, headers=basic("hanna"))
    assert r.status_code == 400  # nils has not the task's role
    assert (
        client.post(
            f"{links}/delete", json={"userId": "hanna", "type": "assignee"}, headers=basic("hanna")
        ).status_code
        == 204
    )
    assert client.get(f"{R}/task/{t['id']}", headers=basic("hanna")).json["assignee"] is None


# --- F8: Tasklist's query parameters ---------------------------------------------------------------------
def test_candidate_user_involved_user_and_expressions(client, engine):
    _deploy(client, XML, "tasklist")
    _, a = _start(client)
    _, b = _start(client)
    _, c = _start(client)
    client.post(
        f"{R}/task/{a['id']}/identity-links",
        json={"userId": "henrik", "type": "candidate"},
        headers=basic("olle"),
    )
    client.post(f"{R}/task/{b['id']}/claim", json={}, headers=basic("hanna"))

    def ids(query: str, who: str = "hanna", post: dict | None = None) -> set[str]:
        if post is not None:
            r = client.post(f"{R}/task{query}", json=post, headers=basic(who))
        else:
            r = client.get(f"{R}/task{query}", headers=basic(who))
        assert r.status_code == 200, r.json
        return {x["id"] for x in r.json}

    assert ids("?withCandidateUsers=true") == {a["id"]}
    assert ids("?withoutCandidateUsers=true") == {b["id"], c["id"]}
    assert ids("", post={"withCandidateUsers": True}) == {a["id"]}
    assert ids("?involvedUser=henrik") == {a["id"]}
    assert ids("?involvedUser=hanna") == {b["id"]}
    assert ids("?assigneeExpression=${currentUser()}") == {b["id"]}
    assert ids("?assigneeExpression=${currentUser()}", who="henrik") == set()
    assert ids("?involvedUserExpression=${currentUser()}", who="henrik") == {a["id"]}
    assert ids("", post={"candidateUserExpression": "${currentUser()}"}, who="henrik") == {a["id"], c["id"]}
    # Tasklist's "My group tasks": candidateGroupsExpression ${currentUserGroups()} (unassigned ones).
    assert ids("", post={"candidateGroupsExpression": "${currentUserGroups()}"}) == {a["id"], c["id"]}
    assert ids(
        "", post={"candidateGroupsExpression": "${currentUserGroups()}", "includeAssignedTasks": True}
    ) == {a["id"], b["id"], c["id"]}
    assert ids("?candidateGroupsExpression=${currentUserGroups()}", who="olle") == set()
    assert ids("?ownerExpression=${currentUser()}") == set()  # none delegated (test_delegation)
    r = client.get(f"{R}/task/count?withCandidateUsers=true", headers=basic("hanna"))
    assert r.json == {"count": 1}
    r = client.post(
        f"{R}/task/count",
        json={"candidateGroupsExpression": "${currentUserGroups()}"},
        headers=basic("hanna"),
    )
    assert r.json == {"count": 2}
    for bad in (
        "?candidateGroupsExpression=${currentUser()}",
        "?assigneeExpression=${execution.getVariable('x')}",
        "?candidateUserExpression=${currentUserGroups()}",
    ):
        r = client.get(f"{R}/task{bad}", headers=basic("hanna"))
        param = bad[1:].split("=")[0]
        assert r.status_code == 400 and param in r.json["message"], r.json
    r = client.get(f"{R}/task?assignee=hanna&assigneeExpression=${{currentUser()}}", headers=basic("hanna"))
    assert r.status_code == 400 and "assigneeExpression" in r.json["message"]
    r = client.get(f"{R}/task?withCandidateUsers=true&withoutCandidateUsers=true", headers=basic("hanna"))
    assert r.status_code == 400
    r = client.get(f"{R}/task?withCandidateUsers=kanske", headers=basic("hanna"))
    assert r.status_code == 400 and "withCandidateUsers" in r.json["message"]


def test_submit_form_checks_the_start_form_and_sets_its_defaults(client, engine):
    """Camunda's submitStartForm runs the start event's form fields: a value of the wrong type or outside
    its limits is refused naming the field and no case is started; a field left out takes its default;
    other variables are kept. ``/start`` runs no form, as in Camunda."""
    required = XML.replace(
        b'<camunda:formField id="antal" type="long" defaultValue="3" />',
        b'<camunda:formField id="antal" type="long" defaultValue="3">'
        b'<camunda:validation><camunda:constraint name="max" config="10" /></camunda:validation>'
        b"</camunda:formField>"
        b'<camunda:formField id="arende" type="string"><camunda:validation>'
        b'<camunda:constraint name="required" /></camunda:validation></camunda:formField>',
    )
    _deploy(client, required, "tasklist")
    url = f"{R}/process-definition/key/tasklist/submit-form"
    for variables, field in (
        ({"antal": {"value": 3, "type": "Long"}}, "arende"),
        ({"arende": {"value": "Bänkar", "type": "String"}, "antal": {"value": 11, "type": "Long"}}, "antal"),
    ):
        r = client.post(url, json={"variables": variables}, headers=basic("hanna"))
        assert r.status_code == 400 and field in r.json["message"], r.json
    with engine.session() as s:
        assert s.execute(sa.text('SELECT count(*) FROM "case"')).scalar() == 0
    r = client.post(
        url,
        json={
            "variables": {
                "arende": {"value": "Bänkar", "type": "String"},
                "kommentar": {"value": "extra", "type": "String"},
            }
        },
        headers=basic("hanna"),
    )
    assert r.status_code == 200, r.json
    variables = client.get(f"{R}/process-instance/{r.json['id']}/variables", headers=basic("hanna")).json
    assert {k: v["value"] for k, v in variables.items()} == {
        "arende": "Bänkar",
        "kommentar": "extra",
        "titel": "Ny ansökan",
        "antal": 3,
        "brådskande": False,
        "från": None,
    }
    started = client.post(f"{R}/process-definition/key/tasklist/start", json={}, headers=basic("hanna"))
    assert started.status_code == 200  # /start: no form, nothing required


def test_a_task_is_never_left_without_anyone_who_may_take_it(client, engine):
    """Probe 9: with its last candidate removed while it was held, a task its holder then gave back was
    in no inbox and nobody could claim it. The last candidate stays, held or not; and a task with only an
    assignee (``camunda:assignee``, no candidates) cannot be given back, only handed on."""
    _deploy(client, XML, "tasklist")
    _case, t = _start(client)
    links = f"{R}/task/{t['id']}/identity-links"
    assert client.post(f"{R}/task/{t['id']}/claim", json={}, headers=basic("hanna")).status_code == 204
    r = client.post(
        f"{links}/delete", json={"groupId": "handlaggare", "type": "candidate"}, headers=basic("olle")
    )
    assert r.status_code == 400 and "groupId" in r.json["message"]
    assert client.post(f"{R}/task/{t['id']}/unclaim", json={}, headers=basic("hanna")).status_code == 204
    assert [x["id"] for x in client.get(f"{R}/task", headers=basic("henrik")).json] == [t["id"]]

    only_assignee = diagram(
        '<bpmn:startEvent id="S" />'
        '<bpmn:userTask id="Egen" name="Egen" camunda:assignee="hanna" />'
        '<bpmn:endEvent id="E" />' + flow("F1", "S", "Egen") + flow("F2", "Egen", "E"),
        pid="egen",
    )
    engine.deploy(only_assignee, "egen.bpmn", "olle")
    info = engine.start_case("egen", actor="system")
    [tid] = info.open_tasks
    for verb, body in (("unclaim", {}), ("assignee", {"userId": None})):
        r = client.post(f"{R}/task/{tid}/{verb}", json=body, headers=basic("hanna"))
        assert r.status_code == 500 and "no candidate" in r.json["message"], r.json
    assert client.get(f"{R}/task/{tid}", headers=basic("hanna")).json["assignee"] == "hanna"

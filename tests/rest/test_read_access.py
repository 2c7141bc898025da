"""The REST API shows a case to the same people as the staff pages (``engine.inbox.case_access``):
whoever started it, has or had one of its tasks (assignee, completed it, candidate group of an open or a
done task), acted on it or had a task of it reassigned to or from them, and the case-reader roles. For
everyone else a single instance is a 403 in Camunda's shape and the lists leave the case out."""

from __future__ import annotations

import pytest

from engine import inbox
from tests.rest.conftest import basic
from tests.rest.test_tasks import GOOD, granska, start
from webhooks.rest import auth

EVERYONE = ("hanna", "henrik", "nils", "anders", "olle", "rut")


@pytest.fixture
def cases(app, client, engine, deployed):
    """Four cases whose readers differ in every way the rule knows."""
    engine.add_user("rut", "hemligt123", ["revisor"], email="rut@example.se")
    # A: started by hanna, Granska completed by henrik; now the board's (namnd: nils) task is open.
    a = start(client, "A")
    r = client.post(
        f"/engine-rest/task/{granska(client, a)}/complete", json={"variables": GOOD}, headers=basic("henrik")
    )
    assert r.status_code == 204, r.json
    # B: Granska handed to anders while he stood in as handlaggare, and by him on to henrik; anders is
    # back in his own role and only in B's audit log now.
    b = start(client, "B")
    tb = granska(client, b)
    engine.set_roles("anders", ["avdelningschef", "handlaggare"])
    for who, to in (("hanna", "anders"), ("anders", "henrik")):
        r = client.post(f"/engine-rest/task/{tb}/assignee", json={"userId": to}, headers=basic(who))
        assert r.status_code == 204, r.json
    engine.set_roles("anders", ["avdelningschef"])
    with app.app_context():
        auth.forget_all()  # the API remembers a signed-in user's roles for a minute
    # C: started by henrik; Granska open for the handlaggare group (hanna reads it as a candidate).
    c = start(client, "C", user="henrik")
    # D: hanna started and completed Granska herself: henrik reads it as a candidate of a done task.
    d = start(client, "D")
    r = client.post(
        f"/engine-rest/task/{granska(client, d)}/complete", json={"variables": GOOD}, headers=basic("hanna")
    )
    assert r.status_code == 204, r.json
    return {"A": a, "B": b, "C": c, "D": d}


def _expected(app, engine, user: str, case_ids) -> set[str]:
    """The staff pages' rule, asked case by case."""
    from engine import users
    from webhooks.case_readers import case_reader_roles

    with app.app_context(), engine.session() as s:
        roles = set(users.roles_of(s, user))
        return {c for c in case_ids if inbox.case_access(s, c, user, roles, case_reader_roles()) is not None}


def test_who_reads_which_case(app, client, engine, cases):
    ids = set(cases.values())
    readers = {user: _expected(app, engine, user, ids) for user in EVERYONE}
    # The rule, spelled out for these cases (so that a change to case_access shows up here too).
    assert readers["hanna"] == ids  # started A, B, D; candidate of C's open task
    assert readers["henrik"] == ids  # completed A's task, B's assignee, started C, candidate of D's done task
    assert readers["nils"] == {cases["A"], cases["D"]}  # the board's open task in A and D
    assert readers["anders"] == {cases["B"]}  # B's task was reassigned to and from him
    assert readers["olle"] == set()  # process owner: deploys, reads no case data
    assert readers["rut"] == ids  # revisor: a case-reader role

    for user in EVERYONE:
        # Lists and counts hold exactly the readable cases, runtime and history alike.
        listed = {i["id"] for i in client.get("/engine-rest/process-instance", headers=basic(user)).json}
        assert listed == readers[user], user  # all four are still running
        history = client.get("/engine-rest/history/process-instance", headers=basic(user)).json
        assert {i["id"] for i in history} == readers[user], user
        count = client.get("/engine-rest/history/process-instance/count", headers=basic(user)).json["count"]
        assert count == len(readers[user]), user
        for case_id in ids:
            r = client.get(f"/engine-rest/history/process-instance/{case_id}", headers=basic(user))
            if case_id in readers[user]:
                assert r.status_code == 200, (user, r.json)
            else:
                assert r.status_code == 403, (user, r.json)
                assert r.json["type"] == "AuthorizationException"
                assert r.json["missingAuthorizations"][0]["permissionName"] == "READ"
                assert "businessKey" not in r.json and "variables" not in r.json


def test_an_unreadable_case_shows_nothing(client, cases):
    a = cases["A"]
    for path in (
        f"/process-instance/{a}",
        f"/process-instance/{a}/variables",
        f"/process-instance/{a}/variables/kommentar",
    ):
        r = client.get("/engine-rest" + path, headers=basic("anders"))
        assert r.status_code == 403, (path, r.json)
        assert "Påverkbar" not in r.get_data(as_text=True)
    for path in ("/history/task", "/history/activity-instance", "/history/user-operation"):
        r = client.get("/engine-rest" + path, query_string={"processInstanceId": a}, headers=basic("anders"))
        assert r.status_code == 200 and r.json == [], (path, r.json)
        everything = client.get("/engine-rest" + path, headers=basic("anders")).json
        assert all(row.get("processInstanceId") != a for row in everything), path
    # The same reads by someone who may: the data is there.
    r = client.get(f"/engine-rest/process-instance/{a}/variables", headers=basic("nils"))
    assert r.status_code == 200 and r.json["kommentar"]["value"] == "Påverkbar."
    for path in ("/history/task", "/history/activity-instance", "/history/user-operation"):
        r = client.get("/engine-rest" + path, query_string={"processInstanceId": a}, headers=basic("nils"))
        assert r.status_code == 200 and r.json, path


def test_unknown_instance_is_404_for_everyone(client, cases):
    for user in ("anders", "rut"):
        r = client.get("/engine-rest/process-instance/nope", headers=basic(user))
        assert r.status_code == 404 and r.json["type"] == "InvalidRequestException"
        assert (
            client.get("/engine-rest/history/process-instance/nope", headers=basic(user)).status_code == 404
        )

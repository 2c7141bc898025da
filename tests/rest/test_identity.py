"""What tasklists ask before they show a user's tasks: a task's identity links, a user's groups and
profile — read only, for the user themself or a process manager."""

from __future__ import annotations

from tests.rest.conftest import basic
from tests.rest.test_tasks import granska, start


def test_identity_links_of_a_task(client, deployed):
    tid = granska(client, start(client, "I-1"))
    links = client.get(f"/engine-rest/task/{tid}/identity-links", headers=basic("hanna")).json
    assert links == [{"userId": None, "groupId": "handlaggare", "type": "candidate"}]
    assert (
        client.post(
            f"/engine-rest/task/{tid}/claim", json={"userId": "hanna"}, headers=basic("hanna")
        ).status_code
        == 204
    )
    links = client.get(f"/engine-rest/task/{tid}/identity-links?type=assignee", headers=basic("hanna")).json
    assert links == [{"userId": "hanna", "groupId": None, "type": "assignee"}]
    assert client.get(f"/engine-rest/task/{tid}/identity-links", headers=basic("nils")).status_code == 403
    r = client.get(f"/engine-rest/task/{tid}/identity-links?type=kollega", headers=basic("hanna"))
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException"
    assert client.get("/engine-rest/task/nope/identity-links", headers=basic("hanna")).status_code == 404


def test_a_user_s_groups_and_profile(client, engine):
    r = client.get("/engine-rest/identity/groups?userId=hanna", headers=basic("hanna"))
    assert r.status_code == 200
    assert r.json["groups"] == [{"id": "handlaggare", "name": "handlaggare"}]
    assert [u["id"] for u in r.json["groupUsers"]] == ["hanna", "henrik"]
    profile = client.get("/engine-rest/user/hanna/profile", headers=basic("hanna")).json
    assert profile == {"id": "hanna", "firstName": None, "lastName": None, "email": "hanna@example.se"}
    # Someone else's: only for process managers; unknown users are a 404 for them, a 403 for others.
    assert client.get("/engine-rest/identity/groups?userId=hanna", headers=basic("nils")).status_code == 403
    assert client.get("/engine-rest/user/hanna/profile", headers=basic("nils")).status_code == 403
    assert client.get("/engine-rest/user/hanna/profile", headers=basic("olle")).status_code == 200
    assert client.get("/engine-rest/user/ingen/profile", headers=basic("olle")).status_code == 404
    assert client.get("/engine-rest/user/ingen/profile", headers=basic("nils")).status_code == 403
    assert client.get("/engine-rest/identity/groups", headers=basic("hanna")).status_code == 400


def test_failed_basic_sign_ins_are_throttled_with_the_staff_pages(client, app):
    """HTTP Basic counts failures with the staff sign-in (10 per account in 15 minutes by default):
    guessing a password over the API is no way around the sign-in page's limit."""
    for _ in range(10):
        assert client.get("/engine-rest/task", headers=basic("hanna", "fel")).status_code == 401
    r = client.get("/engine-rest/task", headers=basic("hanna", "fel"))
    assert r.status_code == 429 and r.json["type"] == "AuthenticationException"
    assert client.get("/engine-rest/task", headers=basic("hanna")).status_code == 429  # until it runs out
    assert client.get("/engine-rest/task", headers=basic("henrik")).status_code == 200  # others sign in
    accounts, _addresses = app.extensions["login_throttle"]
    assert not accounts.try_hit("hanna")  # the staff sign-in page shares the count

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

"""GET /history/variable-instance: a case's variables, running or ended (where Camunda's runtime API no
longer answers), with their types, filters, sorting, paging and the case read rule."""

from __future__ import annotations

from tests.rest.conftest import basic
from tests.rest.test_tasks import GOOD, granska, start

URL = "/engine-rest/history/variable-instance"
H = basic("hanna")


def _get(client, user=H, **params):
    r = client.get(URL, query_string=params, headers=user)
    assert r.status_code == 200, r.json
    return r.json


def test_variables_of_running_and_ended_cases(client, deployed):
    a = start(client, "A", namn=("Ängby", "String"), antal=(5, "Long"))
    b = start(client, "B", namn=("Blackeberg", "String"))
    r = client.post(f"/engine-rest/task/{granska(client, a)}/complete", json={"variables": GOOD}, headers=H)
    assert r.status_code == 204
    assert client.delete(f"/engine-rest/process-instance/{b}", headers=basic("olle")).status_code == 204

    rows = _get(client, processInstanceId=a)
    by_name = {x["name"]: x for x in rows}
    assert "_types" not in by_name and {"namn", "antal", "fragan_paverkbar", "kommentar"} <= set(by_name)
    assert (by_name["antal"]["type"], by_name["antal"]["value"]) == ("Long", 12)  # completed with Long 12
    assert by_name["namn"] == {**by_name["namn"], "type": "String", "value": "Ängby", "processInstanceId": a}
    assert by_name["namn"]["id"] == f"{a}:namn" and by_name["namn"]["state"] == "CREATED"
    assert [x["name"] for x in rows] == sorted(x["name"] for x in rows)

    # An ended case still answers here (the runtime API says 404).
    assert client.get(f"/engine-rest/process-instance/{b}/variables", headers=H).status_code == 404
    assert [(x["name"], x["value"]) for x in _get(client, processInstanceId=b)] == [("namn", "Blackeberg")]

    named = _get(client, variableName="namn", sortBy="instanceId", sortOrder="asc")
    assert sorted(x["value"] for x in named) == ["Blackeberg", "Ängby"]
    count = client.get(f"{URL}/count", query_string={"variableName": "namn"}, headers=H).json
    assert count == {"count": 2}
    assert [x["name"] for x in _get(client, variableNameLike="frag%")] == ["fragan_paverkbar"]
    everything = _get(client, sortBy="variableName", sortOrder="desc")
    assert [x["name"] for x in everything] == sorted((x["name"] for x in everything), reverse=True)
    assert (
        _get(client, sortBy="variableName", sortOrder="desc", firstResult=1, maxResults=2) == everything[1:3]
    )
    r = client.post(URL, json={"processInstanceIdIn": [b], "variableNameIn": ["namn", "x"]}, headers=H)
    assert [x["value"] for x in r.json] == ["Blackeberg"]

    one = client.get(f"{URL}/{a}:namn", headers=H)
    assert one.status_code == 200 and one.json["value"] == "Ängby"
    assert client.get(f"{URL}/{a}:saknas", headers=H).status_code == 404
    assert client.get(f"{URL}/nonsense", headers=H).status_code == 404


def test_only_the_cases_a_user_may_read(client, deployed):
    a = start(client, "A", namn=("Ängby", "String"))
    nils = basic("nils")  # the board: no part in the case yet
    assert _get(client, user=nils) == []
    assert client.get(f"{URL}/count", headers=nils).json == {"count": 0}
    assert client.get(f"{URL}/{a}:namn", headers=nils).status_code == 404
    r = client.get(URL, query_string={"variableValue": "x"}, headers=H)  # not offered: refused, not ignored
    assert r.status_code == 400 and "variableValue" in r.json["message"]

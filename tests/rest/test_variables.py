"""Typed variables go out as they came in: a Date stays a Date (in Camunda's date format, Swedish
offset), numbers, booleans, strings and JSON keep their types."""

from __future__ import annotations

from tests.rest.conftest import basic

START = "/engine-rest/process-definition/key/test_initiativ/start"


def test_variables_keep_their_types_on_the_way_back(client, deployed):
    sent = {
        "inkom": {"value": "2026-01-01T10:00:00.000+0100", "type": "Date"},
        "sommar": {"value": "2026-07-01T10:00:00.000Z", "type": "Date"},
        "text": {"value": "2026-01-01T10:00:00.000+0100", "type": "String"},
        "antal": {"value": 5, "type": "Integer"},
        "andel": {"value": 0.5, "type": "Double"},
        "klar": {"value": True, "type": "Boolean"},
        "data": {"value": '{"a": [1, 2]}', "type": "Json"},
    }
    r = client.post(START, json={"businessKey": "V-1", "variables": sent}, headers=basic("hanna"))
    assert r.status_code == 200, r.json
    got = client.get(f"/engine-rest/process-instance/{r.json['id']}/variables", headers=basic("hanna")).json
    assert got["inkom"]["type"] == "Date" and got["inkom"]["value"] == "2026-01-01T10:00:00.000+0100"
    assert got["sommar"]["type"] == "Date" and got["sommar"]["value"] == "2026-07-01T12:00:00.000+0200"
    assert {k: got[k]["type"] for k in ("antal", "andel", "klar", "data")} == {
        "antal": "Integer",
        "andel": "Double",
        "klar": "Boolean",
        "data": "Json",
    }
    # A String that happens to look like a date keeps Camunda's text as sent (it has no colon offset).
    assert got["text"] == {"type": "String", "value": "2026-01-01T10:00:00.000+0100", "valueInfo": {}}


def test_long_and_short_come_back_as_written(client, deployed):
    """A JSON number cannot tell Integer from Long: the declared type is kept with the case and answered
    back, through the start, a completion and a message, until the variable is written anew."""
    h = basic("hanna")
    sent = {
        "antal": {"value": 5, "type": "Long"},
        "liten": {"value": 3, "type": "Short"},
        "vanlig": {"value": 7, "type": "Integer"},
        "utan": {"value": 8},
    }
    r = client.post(
        START, json={"businessKey": "L-1", "variables": sent, "withVariablesInReturn": True}, headers=h
    )
    assert r.status_code == 200, r.json
    case_id = r.json["id"]
    want = {"antal": "Long", "liten": "Short", "vanlig": "Integer", "utan": "Integer"}
    assert {k: r.json["variables"][k]["type"] for k in want} == want
    got = client.get(f"/engine-rest/process-instance/{case_id}/variables", headers=h).json
    assert {k: got[k]["type"] for k in want} == want and got["antal"]["value"] == 5
    assert "_types" not in got
    single = client.get(f"/engine-rest/process-instance/{case_id}/variables/liten", headers=h).json
    assert single == {"type": "Short", "value": 3, "valueInfo": {}}

    # Written anew as an Integer: the Long is forgotten; a new Long in a completion is kept.
    [task] = client.get("/engine-rest/task", query_string={"processInstanceId": case_id}, headers=h).json
    done = {
        "fragan_paverkbar": {"value": True, "type": "Boolean"},
        "kommentar": {"value": "Ja.", "type": "String"},
        "antal": {"value": 6, "type": "Integer"},
        "vanlig": {"value": 9, "type": "Long"},
    }
    r = client.post(
        f"/engine-rest/task/{task['id']}/complete",
        json={"variables": done, "withVariablesInReturn": True},
        headers=basic("henrik"),
    )
    assert r.status_code == 200, r.json
    assert (r.json["antal"]["type"], r.json["vanlig"]["type"], r.json["liten"]["type"]) == (
        "Integer",
        "Long",
        "Short",
    )
    got = client.get(f"/engine-rest/process-instance/{case_id}/variables", headers=h).json
    assert (got["antal"]["type"], got["vanlig"]["type"]) == ("Integer", "Long")


def test_the_declared_type_is_not_a_variable_of_the_case(client, engine, deployed):
    h = basic("hanna")
    r = client.post(
        START, json={"businessKey": "L-2", "variables": {"antal": {"value": 5, "type": "Long"}}}, headers=h
    )
    with engine.session() as s:
        from engine.models import Case

        case = s.get(Case, r.json["id"])
        assert case.data["antal"] == 5 and case.data["_types"] == {"antal": "Long"}
    # Scripts, conditions and forms see the variables only (the type is in the workflow's own data).
    [task] = client.get("/engine-rest/task", query_string={"processInstanceId": r.json["id"]}, headers=h).json
    got = client.get(f"/engine-rest/task/{task['id']}/variables", headers=h).json
    assert set(got) == {"antal"} and got["antal"]["type"] == "Long"

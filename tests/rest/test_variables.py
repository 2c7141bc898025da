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

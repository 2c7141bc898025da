"""Camunda's variable filters: ``variables`` on process instances (runtime and history) and
``processVariables`` on tasks, in the query string and in a JSON body, on SQLite and PostgreSQL alike.

Camunda's rules, which clients written against it rely on: in a query string every value is a string (or
a date in Camunda's format); in a JSON body a value keeps its JSON type; a value matches only variables of
its own kind (the number 5 is not the string "5"); ``neq`` needs the variable to exist; conditions are
ANDed."""

from __future__ import annotations

import pytest

from tests.rest.conftest import basic

START = "/engine-rest/process-definition/key/test_initiativ/start"
H = basic("hanna")


def _start(client, key: str, variables: dict) -> str:
    r = client.post(START, json={"businessKey": key, "variables": variables}, headers=H)
    assert r.status_code == 200, r.json
    return r.json["id"]


@pytest.fixture
def cases(client, deployed):
    a = _start(
        client,
        "A",
        {
            "namn": {"value": "Ängby park", "type": "String"},
            "antal": {"value": 5, "type": "Integer"},
            "andel": {"value": 0.5, "type": "Double"},
            "brådskande": {"value": True, "type": "Boolean"},
            "inkom": {"value": "2026-01-01T10:00:00.000+0100", "type": "Date"},
            "tom": {"value": None, "type": "Null"},
        },
    )
    b = _start(
        client,
        "B",
        {
            "namn": {"value": "Vällingby torg", "type": "String"},
            "antal": {"value": 12, "type": "Long"},
            "brådskande": {"value": False, "type": "Boolean"},
            "inkom": {"value": "2026-06-01T10:00:00.000+0200", "type": "Date"},
        },
    )
    c = _start(client, "C", {"namn": {"value": "Blackeberg", "type": "String"}, "antal": {"value": "5"}})
    return {"A": a, "B": b, "C": c}


def _keys(client, cases, path: str, *, query=None, body=None) -> set[str]:
    names = {v: k for k, v in cases.items()}
    if body is not None:
        r = client.post(path, json=body, headers=H)
    else:
        r = client.get(path, query_string=query, headers=H)
    assert r.status_code == 200, r.json
    return {names[row.get("processInstanceId") or row["id"]] for row in r.json}


def _instances(client, cases, query=None, body=None) -> set[str]:
    return _keys(client, cases, "/engine-rest/process-instance", query=query, body=body)


def cond(name, operator, value) -> dict:
    return {"name": name, "operator": operator, "value": value}


def test_query_string_values_are_strings_or_dates(client, cases):
    assert _instances(client, cases, {"variables": "namn_eq_Vällingby torg"}) == {"B"}
    assert _instances(client, cases, {"variables": "namn_like_%by%"}) == {"A", "B"}
    # "5" in a query string is the string "5", as in Camunda: C's string, not A's number.
    assert _instances(client, cases, {"variables": "antal_eq_5"}) == {"C"}
    assert _instances(client, cases, {"variables": "inkom_gt_2026-03-01T00:00:00.000+0100"}) == {"B"}
    assert _instances(client, cases, {"variables": "inkom_lteq_2026-01-01T09:00:00.000Z"}) == {"A"}
    # Conditions are ANDed.
    assert _instances(
        client, cases, {"variables": "namn_like_%by%,inkom_lt_2026-03-01T00:00:00.000+0100"}
    ) == {"A"}
    assert _instances(client, cases, {"variables": "saknas_eq_x"}) == set()


def test_json_values_keep_their_types(client, cases):
    def q(*conditions, **flags):
        return _instances(client, cases, body={"variables": list(conditions), **flags})

    assert q(cond("antal", "eq", 5)) == {"A"}  # the number 5, not C's string
    assert q(cond("antal", "eq", 5.0)) == {"A"}
    assert q(cond("antal", "gt", 4)) == {"A", "B"}  # Integer and Long alike
    assert q(cond("antal", "gteq", 12)) == {"B"}
    assert q(cond("antal", "lt", 12)) == {"A"}
    assert q(cond("antal", "lteq", 5)) == {"A"}
    assert q(cond("antal", "neq", 5)) == {"B", "C"}  # C has it, as a string: not equal
    assert q(cond("andel", "gt", 0.25)) == {"A"}
    assert q(cond("andel", "neq", 0.5)) == set()  # only A has it
    assert q(cond("brådskande", "eq", True)) == {"A"}
    assert q(cond("brådskande", "eq", False)) == {"B"}
    assert q(cond("tom", "eq", None)) == {"A"}
    assert q(cond("inkom", "lt", "2026-03-01T00:00:00.000+0100")) == {"A"}
    assert q(cond("inkom", "eq", "2026-06-01T08:00:00.000Z")) == {"B"}  # the same instant
    assert q(cond("namn", "like", "V%"), cond("antal", "gt", 10)) == {"B"}
    assert q(cond('med "citat"', "eq", "ja")) == set()  # any name may be asked for; none has it
    # Case-insensitive names and values, with letters beyond ASCII, on both databases.
    assert q(cond("NAMN", "eq", "ÄNGBY PARK")) == set()
    assert q(
        cond("NAMN", "eq", "ÄNGBY PARK"), variableNamesIgnoreCase=True, variableValuesIgnoreCase=True
    ) == {"A"}
    assert q(cond("namn", "like", "äng%"), variableValuesIgnoreCase=True) == {"A"}


def test_count_and_history_filter_alike(client, cases):
    r = client.get(
        "/engine-rest/process-instance/count", query_string={"variables": "namn_like_%by%"}, headers=H
    )
    assert r.json == {"count": 2}
    # An ended case keeps its variables in history.
    r = client.delete(f"/engine-rest/process-instance/{cases['A']}", headers=basic("olle"))
    assert r.status_code == 204, r.json
    assert _instances(client, cases, {"variables": "namn_like_%by%"}) == {"B"}
    hist = "/engine-rest/history/process-instance"
    assert _keys(client, cases, hist, query={"variables": "namn_like_%by%"}) == {"A", "B"}
    assert _keys(client, cases, hist, body={"variables": [cond("antal", "lt", 10)]}) == {"A"}
    r = client.get(
        f"{hist}/count", query_string={"variables": "namn_like_%by%", "finished": "true"}, headers=H
    )
    assert r.json == {"count": 1}


def test_tasks_by_their_case_s_variables(client, cases):
    tasks = "/engine-rest/task"
    assert _keys(client, cases, tasks, query={"processVariables": "namn_eq_Vällingby torg"}) == {"B"}
    assert _keys(client, cases, tasks, body={"processVariables": [cond("antal", "gteq", 5)]}) == {"A", "B"}
    # The task query is built once per shape: the same shape with other values answers for those values.
    assert _keys(client, cases, tasks, body={"processVariables": [cond("antal", "gteq", 6)]}) == {"B"}
    assert (
        _keys(
            client,
            cases,
            tasks,
            body={"processVariables": [cond("antal", "gteq", 6)], "processInstanceId": cases["A"]},
        )
        == set()
    )
    r = client.get(f"{tasks}/count", query_string={"processVariables": "namn_like_%by%"}, headers=H)
    assert r.json == {"count": 2}


@pytest.mark.parametrize(
    "query",
    [
        {"variables": "namn_eq"},
        {"variables": "namn"},
        {"variables": "_eq_x"},
        {"variables": "namn_is_x"},
        {"variables": "namn_eq_x_y"},
        {"variables": "inkom_gt_2026-13-01T00:00:00.000+0100"},
    ],
)
def test_malformed_query_string_filters(client, cases, query):
    r = client.get("/engine-rest/process-instance", query_string=query, headers=H)
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json


@pytest.mark.parametrize(
    "variables",
    [
        [cond("antal", "like", 5)],
        [cond("brådskande", "gt", True)],
        [cond("tom", "lt", None)],
        [cond("namn", "eq", {"a": 1})],
        [cond("namn", "eq", [1])],
        [cond("", "eq", "x")],
        [cond("namn", None, "x")],
        [{"operator": "eq", "value": "x"}],
        "namn_eq_x",  # the query string's form, in a JSON body that needs a list
        [1, 2],
        {"name": "namn"},
    ],
)
def test_malformed_json_filters(client, cases, variables):
    r = client.post("/engine-rest/process-instance", json={"variables": variables}, headers=H)
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json
    assert r.json["message"]


def test_filters_do_not_widen_what_a_user_may_read(client, cases):
    """nils (the board) takes no part in these cases: a filter that matches them shows him nothing."""
    r = client.get(
        "/engine-rest/process-instance", query_string={"variables": "namn_like_%"}, headers=basic("nils")
    )
    assert r.status_code == 200 and r.json == [], r.json

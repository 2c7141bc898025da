"""Defects a hostile or careless client hit in session 5's features (variable filters, declared types,
variables of a running case), each pinned on SQLite and PostgreSQL through the REST API."""

from __future__ import annotations

import pytest

from engine.variable_filters import MAX_CONDITIONS
from tests.rest.conftest import basic
from tests.rest.test_tasks import granska, start

H = basic("hanna")
QUERIES = (
    ("/engine-rest/process-instance", "variables"),
    ("/engine-rest/history/process-instance/count", "variables"),
    ("/engine-rest/task", "processVariables"),
    ("/engine-rest/task/count", "processVariables"),
)


def _cond(name, operator, value) -> dict:
    return {"name": name, "operator": operator, "value": value}


def _business_keys(client, body: dict) -> set[str]:
    r = client.post("/engine-rest/process-instance", json=body, headers=H)
    assert r.status_code == 200, r.json
    return {row["businessKey"] for row in r.json}


@pytest.mark.parametrize("path, key", QUERIES)
def test_too_many_variable_conditions_are_a_400_not_a_server_error(client, deployed, path, key):
    """SQLite refused a few hundred conditions ("Expression tree is too large"): a 500. The limit holds on
    both databases alike, for a JSON body and a query string; up to it the query answers."""
    case_id = start(client, "V-1", antal=(5, "Integer"))
    many = [_cond("antal", "eq", 5)] * MAX_CONDITIONS
    r = client.post(path, json={key: many}, headers=H)
    assert r.status_code == 200, r.json
    found = r.json["count"] if isinstance(r.json, dict) else len(r.json)
    assert found == 1, r.json
    if path == "/engine-rest/process-instance":
        assert r.json[0]["id"] == case_id
    r = client.post(path, json={key: [*many, _cond("x", "neq", "y")] * 6}, headers=H)
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json
    assert f"At most {MAX_CONDITIONS}" in r.json["message"]
    r = client.get(path, query_string={key: ",".join(["antal_neq_x"] * 600)}, headers=H)
    assert r.status_code == 400 and f"At most {MAX_CONDITIONS}" in r.json["message"], r.json


def test_declared_types_are_never_a_variable(client, deployed):
    """``_types`` (the declared Long/Short types, in the case's data) was answered as a Json variable by
    name and by ``variableNames``, and a ``neq`` filter on it found every case with a declared type."""
    case_id = start(client, "T-1", antal=(3, "Long"))
    task = granska(client, case_id)
    base = f"/engine-rest/process-instance/{case_id}/variables"
    r = client.get(f"{base}/_types", headers=H)
    assert r.status_code == 404 and r.json["type"] == "InvalidRequestException", r.json
    assert client.get(base, query_string={"variableNames": "_types,antal"}, headers=H).json == {
        "antal": {"type": "Long", "value": 3, "valueInfo": {}}
    }
    for url in (f"/engine-rest/task/{task}/variables", f"/engine-rest/task/{task}/form-variables"):
        got = client.get(url, query_string={"variableNames": "_types"}, headers=H)
        assert got.status_code == 200 and got.json == {}, (url, got.json)
    for body in (
        {"variables": [_cond("_types", "neq", "x")]},
        {"variables": [_cond("_TYPES", "neq", "x")], "variableNamesIgnoreCase": True},
    ):
        assert _business_keys(client, body) == set(), body
    r = client.post("/engine-rest/task", json={"processVariables": [_cond("_types", "neq", "x")]}, headers=H)
    assert r.status_code == 200 and r.json == [], r.json
    # The variable itself is still found, and still a Long.
    assert _business_keys(client, {"variables": [_cond("antal", "eq", 3)]}) == {"T-1"}


def test_case_insensitive_filters_fold_as_the_database_does_on_both_sides(client, deployed):
    """Python folded the asked-for value ("İ" → "i̇", two letters) and PostgreSQL the stored one
    ("İ" → "i"): a case-insensitive filter missed the case it was written to find."""
    start(client, "I-1", stad=("İstanbul", "String"), namn=("Åsa", "String"))
    start(client, "I-2", stad=("Izmir", "String"))
    ignore = {"variableValuesIgnoreCase": True}
    assert _business_keys(client, {"variables": [_cond("stad", "eq", "İSTANBUL")], **ignore}) == {"I-1"}
    assert _business_keys(client, {"variables": [_cond("stad", "like", "İST%")], **ignore}) == {"I-1"}
    assert _business_keys(client, {"variables": [_cond("stad", "eq", "İSTANBUL")]}) == set()
    both = {"variableNamesIgnoreCase": True, **ignore}
    assert _business_keys(client, {"variables": [_cond("NAMN", "eq", "ÅSA")], **both}) == {"I-1"}
    r = client.get(
        "/engine-rest/process-instance", query_string={"variables": "STAD_like_i%", **both}, headers=H
    )
    assert r.status_code == 200 and {x["businessKey"] for x in r.json} == {"I-1", "I-2"}, r.json


def test_a_backslash_escapes_like_wildcards_on_both_databases(client, deployed):
    """As Camunda's LIKE (ESCAPE '\\'): PostgreSQL escaped by default, SQLite not at all, so the same
    filter found different cases on the two databases."""
    start(client, "L-1", kod=("a_b", "String"), andel=("100%", "String"))
    start(client, "L-2", kod=("axb", "String"), andel=("1000", "String"))
    assert _business_keys(client, {"variables": [_cond("kod", "like", "a_b")]}) == {"L-1", "L-2"}
    assert _business_keys(client, {"variables": [_cond("kod", "like", "a\\_b")]}) == {"L-1"}
    assert _business_keys(client, {"variables": [_cond("andel", "like", "100\\%")]}) == {"L-1"}
    assert _business_keys(client, {"variables": [_cond("andel", "like", "100%")]}) == {"L-1", "L-2"}
    # A pattern ending in the escape character (PostgreSQL's error, SQLite's silent miss) is refused alike.
    r = client.post(
        "/engine-rest/process-instance", json={"variables": [_cond("kod", "like", "a\\")]}, headers=H
    )
    assert r.status_code == 400 and "escape" in r.json["message"], r.json
    assert _business_keys(client, {"variables": [_cond("kod", "like", "a\\\\%")]}) == set()

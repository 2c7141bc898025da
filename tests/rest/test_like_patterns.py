"""The ``…Like`` query filters read a pattern the same way on SQLite and PostgreSQL, as Camunda's own
mappings do (``LIKE #{pattern} ESCAPE '\\'``): a backslash makes the next "%", "_" or backslash a plain
character. PostgreSQL's LIKE escapes with a backslash unasked and SQLite's not at all, so without the
ESCAPE clause ``a\\_b`` found different rows on the two databases; a pattern ending in a lone backslash
(PostgreSQL's error mid-query, SQLite's silent miss) is a 400 on both."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_bytes
from tests.rest.conftest import basic

H = basic("hanna")
# Each filtered text of the first case holds "a_b", "100%" and "C:\temp"; of the second "axb", "1000" and
# "C:temp" — what an unescaped "_", "%" or "\t" would match too.
A, B = r"a_b 100% C:\temp", "axb 1000 C:temp"
PATTERNS = [
    (r"%a\_b%", {A}),
    ("%a_b%", {A, B}),
    (r"%100\%%", {A}),
    ("%100%", {A, B}),
    (r"%C:\\temp%", {A}),  # an escaped backslash is a backslash
    (r"%C:\temp%", {B}),  # a backslash before "t" makes it a plain "t"
    ("%C:\\\\", set()),  # ends in an escaped backslash: a pattern, matching neither
]


def _diagram(key: str, text: str) -> bytes:
    """initiativ.bpmn as process ``key``, its name and its first task's name holding ``text``."""
    xml = fixture_bytes("initiativ.bpmn").decode()
    xml = xml.replace("test_initiativ", key).replace('name="Testinitiativ"', f'name="Rutin {text}"')
    return xml.replace('name="Granska initiativet"', f'name="Granska {text}"').encode()


@pytest.fixture
def two(engine, client):
    """Two routines, deployments and cases whose names, business keys and variable names differ only
    where a wildcard would hide the difference."""
    ids = []
    for key, text, variable in (("like_a", A, "a_b"), ("likexa", B, "axb")):
        engine.deploy(_diagram(key, text), f"{key}.bpmn", "olle", deployment_name=f"Utgåva {text}")
        r = client.post(
            f"/engine-rest/process-definition/key/{key}/start",
            json={"businessKey": text, "variables": {variable: {"value": 1, "type": "Integer"}}},
            headers=H,
        )
        assert r.status_code == 200, r.json
        ids.append(r.json["id"])
    return ids


def _strip(values: set[str], prefix: str) -> set[str]:
    return {v.removeprefix(prefix) for v in values}


# (path, parameter, the field whose values are compared, prefix before the text)
FILTERS = [
    ("/engine-rest/process-instance", "businessKeyLike", "businessKey", ""),
    ("/engine-rest/history/process-instance", "processInstanceBusinessKeyLike", "businessKey", ""),
    ("/engine-rest/task", "nameLike", "name", "Granska "),
    ("/engine-rest/process-definition", "nameLike", "name", "Rutin "),
    ("/engine-rest/deployment", "nameLike", "name", "Utgåva "),
]


@pytest.mark.parametrize("path, param, field, prefix", FILTERS)
def test_a_backslash_escapes_alike_on_both_databases(client, two, path, param, field, prefix):
    for pattern, expected in PATTERNS:
        r = client.get(path, query_string={param: prefix + pattern}, headers=H)
        assert r.status_code == 200, (pattern, r.json)
        assert _strip({row[field] for row in r.json}, prefix) == expected, pattern
    for pattern in ("%C:\\", "%C:\\\\\\"):  # a lone escape character at the end
        r = client.get(path, query_string={param: prefix + pattern}, headers=H)
        assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", (pattern, r.json)
        assert "escape character" in r.json["message"], r.json


def test_the_task_query_body_and_count_escape_alike(client, two):
    """The task query's statement is built once per shape and cached: the pattern is a parameter."""
    for pattern, expected in PATTERNS:
        r = client.post("/engine-rest/task", json={"nameLike": f"Granska {pattern}"}, headers=H)
        assert r.status_code == 200, r.json
        assert _strip({t["name"] for t in r.json}, "Granska ") == expected, pattern
        r = client.get("/engine-rest/task/count", query_string={"nameLike": f"Granska {pattern}"}, headers=H)
        assert r.json == {"count": len(expected)}, pattern
    r = client.post("/engine-rest/task", json={"nameLike": "Granska %C:\\"}, headers=H)
    assert r.status_code == 400 and "escape character" in r.json["message"], r.json


def test_key_and_variable_name_patterns_escape_alike(client, two):
    keys = {d["key"] for d in client.get("/engine-rest/process-definition", headers=H).json}
    assert keys == {"like_a", "likexa"}
    for pattern, expected in ((r"like\_a", {"like_a"}), ("like_a", {"like_a", "likexa"})):
        r = client.get("/engine-rest/process-definition", query_string={"keyLike": pattern}, headers=H)
        assert {d["key"] for d in r.json} == expected, pattern
    url = "/engine-rest/history/variable-instance"
    for pattern, expected in ((r"a\_b", {"a_b"}), ("a_b", {"a_b", "axb"}), (r"a\\_b", set())):
        query = {"variableNameLike": pattern, "processInstanceIdIn": ",".join(two)}
        r = client.get(url, query_string=query, headers=H)
        assert r.status_code == 200, r.json
        assert {v["name"] for v in r.json} == expected, pattern
    r = client.get(url, query_string={"variableNameLike": "a\\", "processInstanceIdIn": two[0]}, headers=H)
    assert r.status_code == 400 and "escape character" in r.json["message"], r.json


@pytest.mark.parametrize("path, param, field, prefix", [f for f in FILTERS if f[0] != "/engine-rest/task"])
def test_patterns_are_case_sensitive_on_both_databases(client, two, path, param, field, prefix):
    """As PostgreSQL's LIKE (and Camunda on it): SQLite's own LIKE ignored the case of ASCII letters, so
    a lower-case pattern found "A…"/"Granska …" on SQLite only (engine.db overrides it)."""
    upper = {A: r"%A\_B%", B: "%AXB%"}
    for text, pattern in upper.items():
        r = client.get(path, query_string={param: prefix + pattern}, headers=H)
        assert r.status_code == 200 and r.json == [], (pattern, r.json)
        r = client.get(path, query_string={param: prefix + pattern.lower()}, headers=H)
        assert _strip({row[field] for row in r.json}, prefix) == {text}, pattern


def test_sqlite_like_matches_as_postgresql_and_never_backtracks_without_end():
    """engine.db's LIKE for SQLite (case-sensitive as PostgreSQL's): "%" pieces are placed left to
    right, so a hostile pattern costs text × pattern, not the exponential time of a backtracking match."""
    import time

    from engine.db import _like

    cases = [
        ("Granska%", "Granska initiativet", True),
        ("granska%", "Granska initiativet", False),
        ("a_c", "abc", True),
        ("a.c", "abc", False),  # no regular expression: "." is a dot
        ("[a]%", "[a] x", True),
        (r"100\%", "100%", True),
        (r"100\%", "1000", False),
        ("%", "", True),
        ("", "x", False),
        ("%b%b", "abab", True),
        ("%ab%ba", "aba", False),  # the pieces may not overlap
    ]
    for pattern, text, expected in cases:
        assert _like(pattern, text, "\\") is expected, (pattern, text)
    assert _like("x", None) is None and _like(None, "x") is None
    began = time.monotonic()
    assert _like("%a" * 40 + "%b", "a" * 50_000, "\\") is False
    assert _like("%" + "a" * 30 + "b%", "a" * 5_000, "\\") is False
    assert _like("%" + "a" * 2000 + "b%", "a" * 1_000_000, "\\") is False  # a planted 1 MB variable
    assert _like("%" + "a_" * 200 + "b%", "a" * 200_000, "\\") is False
    assert time.monotonic() - began < 5  # a regular expression of ".*" pieces takes hours on these


def test_task_names_match_without_regard_to_case_as_in_camunda(client, two):
    """Camunda's Task.xml compares UPPER(NAME_) with UPPER(#{name}) / UPPER(#{nameLike}) (CAM-6363,
    CAM-6165): a task name filter ignores case — on both databases, also for å, ä, ö."""
    for query in (
        {"nameLike": "granska %a\\_b%"},
        {"nameLike": "GRANSKA %A\\_B%"},
        {"name": "GRANSKA " + A.upper()},
    ):
        r = client.get("/engine-rest/task", query_string=query, headers=H)
        assert r.status_code == 200 and [t["name"] for t in r.json] == [f"Granska {A}"], (query, r.json)
        r = client.post("/engine-rest/task/count", json=query, headers=H)
        assert r.json == {"count": 1}, query


def test_a_variable_like_pattern_has_a_length_limit(client, two):
    """Matching costs text × pattern on both databases and a variable may hold megabytes: a pattern
    longer than 500 characters is refused up front."""
    long = "%" + "a" * 600 + "%"
    r = client.post("/engine-rest/task", json={"processVariables": [{"name": "a_b", "operator": "like",
                    "value": long}]}, headers=H)  # fmt: skip
    assert r.status_code == 400 and "500" in r.json["message"], r.json
    ok = client.post("/engine-rest/task", json={"processVariables": [{"name": "a_b", "operator": "like",
                     "value": "%" + "a" * 400 + "%"}]}, headers=H)  # fmt: skip
    assert ok.status_code == 200 and ok.json == []

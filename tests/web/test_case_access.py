"""Who may read a case page and its diagram: the starter, whoever has or had a task in it (assignee,
completer, a candidate group of any of its tasks, a reassignment in its history), and the case-reader
roles (admin, systemadministrator, revisor, or CASE_READER_ROLES). Everyone else gets the 403 page with
nothing of the case on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from engine import clock
from engine import inbox as q
from engine.errors import Forbidden
from tests.conftest import fixture_bytes
from tests.web.conftest import PASSWORD, html
from tests.web.test_tasks import GOOD

KEY = "KS-2026/77"
SECRET = "Uppgiften om parken som ingen utomstående ska se."


def start(engine, actor="system"):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    return engine.start_case("test_initiativ", business_key=KEY, variables={"kommentar": SECRET}, actor=actor)


def shows_the_case(response) -> bool:
    page = html(response)
    return response.status_code == 200 and f"Ärende {KEY}" in page and SECRET in page


def assert_denied(response):
    page = html(response)
    assert response.status_code == 403, page
    assert "Åtkomst nekad" in page and "Du har inte behörighet att läsa det här ärendet." in page
    for leak in (KEY, SECRET, "Testinitiativ", "Granska initiativet", "diagram.bpmn", "timeline"):
        assert leak not in page, leak


def test_a_candidate_group_reads_the_case_an_unrelated_user_gets_403(engine, staff):
    info = start(engine)
    assert shows_the_case(staff("anna").get(f"/arenden/{info.id}"))  # handlaggare: Granska's group
    for name in ("bertil", "david"):  # namnd has no task in the case yet; david has no role at all
        s = staff(name)
        assert_denied(s.get(f"/arenden/{info.id}"))
        r = s.get(f"/arenden/{info.id}/diagram.bpmn")
        assert r.status_code == 403 and b"bpmn:definitions" not in r.data


def test_a_group_with_a_later_task_reads_the_case_from_then_on(engine, staff):
    info = start(engine)
    bertil = staff("bertil")
    assert_denied(bertil.get(f"/arenden/{info.id}"))
    task = info.open_tasks[0]
    anna = staff("anna")
    anna.post(f"/uppgifter/{task}/ta")
    assert anna.post(f"/uppgifter/{task}", GOOD).status_code == 302  # Beslut (namnd) is created
    assert shows_the_case(anna.get(f"/arenden/{info.id}"))  # completed by her
    page = html(bertil.get(f"/arenden/{info.id}"))
    assert f"Ärende {KEY}" in page and "Fatta beslut" in page


def test_the_starter_reads_the_case(app, engine, staff):
    """A starter role that no task of the routine has (camunda:candidateStarterGroups): starting the case
    is what lets the user read it."""
    xml = fixture_bytes("initiativ.bpmn").replace(
        b'<bpmn:process id="test_initiativ"',
        b'<bpmn:process camunda:candidateStarterGroups="kontaktcenter" id="test_initiativ"',
    )
    engine.deploy(xml, "initiativ.bpmn", "olle")
    engine.add_user("kajsa", PASSWORD, ["kontaktcenter"])
    with pytest.raises(Forbidden):  # david has no role: starting is not his to do
        start(engine, actor="david")
    info = start(engine, actor="kajsa")
    assert shows_the_case(staff("kajsa").get(f"/arenden/{info.id}"))
    assert_denied(staff("david").get(f"/arenden/{info.id}"))


def test_auditor_and_admin_roles_read_every_case(engine, staff):
    info = start(engine)
    for name in ("rut", "adam"):
        s = staff(name)
        assert shows_the_case(s.get(f"/arenden/{info.id}")), name
        r = s.get(f"/arenden/{info.id}/diagram.bpmn")
        assert r.status_code == 200 and b"bpmn:definitions" in r.data


def test_case_reader_roles_come_from_the_config(app, engine, staff):
    info = start(engine)
    engine.add_user("tove", PASSWORD, ["tillsyn"])
    app.config["CASE_READER_ROLES"] = "tillsyn, arkiv"  # as DELAKTIG_CASE_READER_ROLES=tillsyn,arkiv
    assert shows_the_case(staff("tove").get(f"/arenden/{info.id}"))
    assert_denied(staff("rut").get(f"/arenden/{info.id}"))  # revisor is no longer a reader role
    app.config["CASE_READER_ROLES"] = ["revisor"]  # a JSON list in the environment
    assert shows_the_case(staff("rut").get(f"/arenden/{info.id}"))


def test_a_task_reassigned_away_still_counts_as_had(engine, staff):
    info = start(engine)
    task = info.open_tasks[0]
    (
        staff("anna"),
        staff("cecilia"),
    )  # the accounts; cecilia is avdelningschef: no task of the case is for that role
    assert_denied(staff("cecilia").get(f"/arenden/{info.id}"))
    engine.set_roles("cecilia", ["avdelningschef", "handlaggare"])  # helps out for a while
    engine.set_assignee(task, "anna", "cecilia", roles={"handlaggare"})
    assert shows_the_case(staff("cecilia").get(f"/arenden/{info.id}"))  # assigned to her
    engine.set_assignee(task, "cecilia", "anna")  # hands it back (hers to hand on)
    engine.set_roles("cecilia", ["avdelningschef"])  # and is back in her own role
    with engine.session() as s:
        assert q.case_access(s, info.id, "cecilia", {"avdelningschef"}, set()) == "history"
    assert shows_the_case(staff("cecilia").get(f"/arenden/{info.id}"))


def test_unknown_case_is_still_404_for_everyone(staff):
    for name in ("david", "rut"):
        r = staff(name).get("/arenden/finns-inte")
        assert r.status_code == 404 and "Ärendet finns inte." in html(r)


def test_access_denied_page_in_english(engine, staff):
    info = start(engine)
    s = staff("david")
    s.post("/sprak", {"lang": "en"})
    r = s.get(f"/arenden/{info.id}")
    assert r.status_code == 403
    assert "Access denied" in html(r) and "You are not allowed to read this case." in html(r)


def test_case_access_reasons(engine):
    engine.add_user("olle", PASSWORD, ["handlaggare"])
    info = start(engine, actor="olle")
    with engine.session() as s:
        check = lambda user, roles, readers=frozenset(): q.case_access(s, info.id, user, roles, set(readers))  # noqa: E731
        assert check("olle", set()) == "started"
        assert check("x", {"handlaggare"}) == "group"
        assert check("x", {"revisor"}, {"revisor"}) == "role"
        assert check("x", {"namnd"}) is None
        assert q.case_access(s, "nope", "x", {"revisor"}, {"revisor"}) == "missing"
    engine.claim_task(info.open_tasks[0], "olle")
    with engine.session() as s:
        assert q.case_access(s, info.id, "olle", set(), set()) in ("started", "task")
        assert q.case_access(s, info.id, "x", set(), set()) is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the plan is the point: SQLite's is stable
def test_case_access_is_index_lookups_and_at_most_two_statements(engine, db_url):
    for _ in range(3):
        start(engine)
    info = start(engine)
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's own BEGIN
            statements.append((statement, parameters))

    sa.event.listen(engine.db, "before_cursor_execute", capture)
    try:
        with engine.session() as s:
            assert q.case_access(s, info.id, "x", {"handlaggare"}, set()) == "group"
        allowed = len(statements)
        with engine.session() as s:
            assert q.case_access(s, info.id, "x", {"namnd"}, set()) is None
    finally:
        sa.event.remove(engine.db, "before_cursor_execute", capture)
    assert allowed == 1 and len(statements) == 3
    with engine.db.connect() as conn:
        for statement, parameters in statements:
            plan = " | ".join(
                str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
            assert "USING" in plan, plan


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # configuration only
@pytest.mark.parametrize(
    ("env", "roles"),
    [
        ("tillsyn,arkiv", {"tillsyn", "arkiv"}),
        ('["revisor"]', {"revisor"}),
        (None, {"admin", "systemadministrator", "revisor"}),
    ],
)
def test_case_reader_roles_from_the_environment(monkeypatch, db_url, env, roles):
    from webhooks import create_app
    from webhooks.staff.cases import case_reader_roles

    if env is None:
        monkeypatch.delenv("DELAKTIG_CASE_READER_ROLES", raising=False)
    else:
        monkeypatch.setenv("DELAKTIG_CASE_READER_ROLES", env)
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "k"})
    try:
        with app.app_context():
            assert case_reader_roles() == roles
    finally:
        app.extensions["delaktig"].dispose()

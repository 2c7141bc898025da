"""Small builders shared by the engine tests."""

from __future__ import annotations

import sqlalchemy as sa

from engine.models import Case, UserTask
from engine.workflow import dump_state, load_state
from tests.conftest import fixture_bytes


def deploy_fixture(d, name: str = "initiativ.bpmn", by: str = "anna"):
    return d.deploy(fixture_bytes(name), name, by)


def add_staff(d) -> None:
    d.add_user("hanna", "hemligt123", ["handlaggare"], email="hanna@example.se")
    d.add_user("henrik", "hemligt123", ["handlaggare"], email="henrik@example.se")
    d.add_user("nils", "hemligt123", ["namnd"], email="nils@example.se")
    d.add_user("anders", "hemligt123", ["avdelningschef"], email="anders@example.se")


def open_tasks(d, case_id: str) -> list[UserTask]:
    with d.session() as s:
        return list(
            s.execute(
                sa.select(UserTask)
                .where(UserTask.case_id == case_id, UserTask.state == "open")
                .order_by(UserTask.name)
            ).scalars()
        )


def case_row(d, case_id: str) -> Case:
    with d.session() as s:
        return s.get(Case, case_id)


def assert_reload_stable(d, case_id: str) -> None:
    """Save → load → save gives the same bytes, and the projection matches the workflow's READY tasks:
    how SpiffWorkflow tests itself, applied to our spec-less blobs."""
    with d.session() as s:
        case = s.get(Case, case_id)
        spec, subs = d.specs.get(s, case.definition_id)
        wf = load_state(case.state, spec, subs)
        assert dump_state(wf) == case.state
        wf2 = load_state(dump_state(wf), spec, subs)
        assert dump_state(wf2) == case.state
        from SpiffWorkflow.task import TaskState

        ready = {str(t.id) for t in wf.get_tasks(state=TaskState.READY, manual=True)}
        projected = {
            t
            for (t,) in s.execute(
                sa.select(UserTask.id).where(UserTask.case_id == case_id, UserTask.state == "open")
            )
        }
        assert ready == projected

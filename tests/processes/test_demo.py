"""`delaktig demo` as a real subprocess: deploys every routine, prints one user per role whose credentials
authenticate, and a newcomer can walk a dialogue end to end with those users."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from engine.models import Outbox
from tests.processes import test_lund
from tests.processes.test_all_diagrams import EXPECTED
from tests.processes.walker import (
    ROOT,
    Diagram,
    all_diagrams,
    answer_for,
    case_row,
    mail_roles,
    observe,
    open_tasks,
    roles_in,
)

LINE = re.compile(r"^\s+användare (\S+)\s+lösenord (\S+)\s+roll (\S+)\s*$")


def run_demo(db_url: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "DELAKTIG_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )


def used_roles() -> set[str]:
    roles: set[str] = set()
    for path in all_diagrams():
        diagram = Diagram.load(str(path.relative_to(path.parents[1])))
        roles |= roles_in(diagram) | mail_roles(diagram)
    return roles


def test_demo_deploys_everything_and_prints_working_credentials(d, db_url, tmp_path):
    result = run_demo(db_url, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for rel, key in EXPECTED.items():
        assert f"{rel}: {key} v1" in out, (rel, out)

    users = [LINE.match(line).groups() for line in out.splitlines() if LINE.match(line)]
    by_role = {role: (name, password) for name, password, role in users}
    missing = used_roles() - set(by_role)
    assert not missing, f"no demo user for {sorted(missing)}"
    for role, (name, password) in by_role.items():
        user = d.authenticate(name, password)
        assert user is not None, name
        assert role in d.roles_of(name)
    name, password = by_role["enhetschef"]
    assert d.authenticate(name, password + "x") is None

    # a newcomer walks a whole Lund dialogue with the printed users (user name = role)
    case = d.start_case("lund_dialog", actor=by_role["tjansteperson"][0])
    visits: dict[str, int] = {}
    for _ in range(30):
        tasks = open_tasks(d, case.id)
        if not tasks:
            break
        task = tasks[0]
        actor = by_role[task.candidate_groups[0]][0]
        n = visits.get(task.element_id, 0)
        visits[task.element_id] = n + 1
        d.claim_task(task.id, actor)
        d.complete_task(task.id, actor, answer_for(test_lund.ANSWERS, task, n))
    assert case_row(d, case.id).status == "completed"
    walk = observe(d, test_lund.DIALOG, case.id)
    assert walk.ends == ["EndEvent_genomford"] and walk.mails[0]["element_id"] == "Send_aterkoppling"
    assert "Task_utvardera" in walk.tasks

    # running it again changes nothing and says so
    again = run_demo(db_url, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Demoanvändarna finns redan." in again.stdout
    for rel, key in EXPECTED.items():
        assert f"{rel}: {key} v1" in again.stdout
    with d.session() as s:
        assert s.query(Outbox).count() == 1

"""Two clients complete the same task at the same instant over real HTTP: exactly one 204, the other a
Camunda error, and the task is completed once (on PostgreSQL with row locks; on SQLite too)."""

from __future__ import annotations

import threading

import requests
import sqlalchemy as sa

from engine.models import AuditEvent
from tests.rest.conftest import PASSWORD

GOOD = {
    "fragan_paverkbar": {"value": False, "type": "Boolean"},
    "kommentar": {"value": "Inte påverkbar.", "type": "String"},
    "skal": {"value": "lagstyrd", "type": "String"},
}


def test_concurrent_completion_one_wins(server, engine, deployed):
    for round_ in range(4):
        started = requests.post(
            f"{server}/process-definition/key/test_initiativ/start",
            json={
                "businessKey": f"K-{round_}",
                "variables": {"initiator_email": {"value": "a@example.se", "type": "String"}},
            },
            auth=("hanna", PASSWORD),
        ).json()
        (task,) = requests.get(
            f"{server}/task", params={"processInstanceId": started["id"]}, auth=("hanna", PASSWORD)
        ).json()
        barrier = threading.Barrier(2)
        results: list[tuple[int, dict | None]] = []

        def complete(user: str, task_id: str = task["id"], barrier=barrier, results=results) -> None:
            session = requests.Session()
            session.auth = (user, PASSWORD)
            session.get(f"{server}/version")  # sign in first, so both requests race on the completion only
            barrier.wait()
            r = session.post(f"{server}/task/{task_id}/complete", json={"variables": GOOD})
            results.append((r.status_code, r.json() if r.content else None))

        threads = [threading.Thread(target=complete, args=(u,)) for u in ("hanna", "henrik")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = sorted(s for s, _ in results)
        assert statuses[0] == 204 and statuses[1] >= 400, results
        loser = next(body for s, body in results if s != 204)
        assert loser["type"] in ("ProcessEngineException", "OptimisticLockingException") and loser["message"]
        with engine.session() as s:
            completions = s.execute(
                sa.select(sa.func.count()).where(
                    AuditEvent.kind == "task_completed", AuditEvent.task_id == task["id"]
                )
            ).scalar_one()
        assert completions == 1
        assert engine.verify_audit(started["id"]) == []

"""The intake's housekeeping runs from beat: the task exists, is scheduled, and does the engine's work."""

from __future__ import annotations

from workers import celery_app, tasks


def test_intake_housekeeping_is_scheduled_and_runs(d, monkeypatch):
    assert celery_app.beat_schedule()["intake-housekeeping"]["task"] == "delaktig.intake_housekeeping"
    monkeypatch.setattr(tasks, "_engine", d)
    monkeypatch.setattr(tasks, "_engine_pid", __import__("os").getpid())
    result = tasks.intake_housekeeping.run()
    assert set(result) == {"synced", "purged", "idempotency_keys_removed", "reports_queued"}
    assert (result["synced"], result["purged"], result["idempotency_keys_removed"]) == (0, [], 0)

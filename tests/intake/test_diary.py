"""Diary numbers: gap-free and unique per series and year, also under concurrent submissions."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from engine import clock, initiatives
from engine.errors import ValidationFailed
from engine.initiative_models import DiaryCounter, Initiative
from tests.intake.conftest import signed


def test_twenty_parallel_webhook_submissions_get_twenty_consecutive_numbers(client, d):
    barrier = threading.Barrier(20)
    replies: list = [None] * 20

    def submit(n: int) -> None:
        body = json.dumps({"kind": "medborgarforslag", "subject": f"Förslag {n}", "text": "Text"}).encode()
        headers = signed(body, key=f"parallel-{n}")
        barrier.wait()
        replies[n] = client.request("POST", "/webhooks/initiatives", body, headers)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status for r in replies] == [201] * 20, [r.text for r in replies if r.status != 201]
    numbers = sorted(r.json()["diarienummer"] for r in replies)
    year = clock.local_now().year
    assert numbers == [f"KS {year}/{n:04d}" for n in range(1, 21)]
    with d.session() as s:
        assert s.execute(sa.select(DiaryCounter.last)).scalar_one() == 20
        assert sorted(s.execute(sa.select(Initiative.seq)).scalars()) == list(range(1, 21))
        # every one started its routine
        assert s.execute(sa.select(sa.func.count()).where(Initiative.case_id.is_not(None))).scalar() == 20


def test_numbers_restart_each_year_and_follow_the_format(d):
    cfg = initiatives.IntakeConfig.from_dict({"series": "SBN", "format": "{series}-{seq:03d}/{year}"})
    sub = initiatives.Submission(kind="synpunkt", subject="Belysning", text="Lampan är trasig.")
    with clock.frozen(datetime(2026, 12, 31, 22, 30, tzinfo=UTC)):  # 23:30 in Stockholm: still 2026
        a = initiatives.register(d, sub, cfg)
    with clock.frozen(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)):  # 00:30 on 1 January in Stockholm
        b = initiatives.register(d, sub, cfg)
        c = initiatives.register(d, sub, cfg)
    assert [a.diarienummer, b.diarienummer, c.diarienummer] == [
        "SBN-001/2026",
        "SBN-001/2027",
        "SBN-002/2027",
    ]


def test_a_failed_registration_leaves_no_gap(d, config, monkeypatch):
    sub = initiatives.Submission(kind="synpunkt", subject="Ett", text="Text")
    assert initiatives.register(d, sub, config).diarienummer.endswith("/0001")

    def boom(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(initiatives, "_audit", boom)
    with pytest.raises(RuntimeError):
        initiatives.register(d, sub, config)
    monkeypatch.undo()
    assert initiatives.register(d, sub, config).diarienummer.endswith("/0002")


def test_config_is_checked():
    with pytest.raises(ValidationFailed, match="seq"):
        initiatives.IntakeConfig.from_dict({"format": "{series} {year}"})
    with pytest.raises(ValidationFailed, match="P1Y"):
        initiatives.IntakeConfig.from_dict({"deadlines": {"medborgarforslag": "ett år"}})
    with pytest.raises(ValidationFailed, match="okända nycklar"):
        initiatives.IntakeConfig.from_dict({"rules": [{"kind": "synpunkt", "mesage": "x"}]})

"""The inbox: mine / my group's, claim from the list, due order, filters, counts, pagination."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from engine import clock
from engine.models import UserTask
from tests.web.conftest import html

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def task_ids_in(page: str) -> list[str]:
    return re.findall(r'data-task-id="([^"]+)"', page)


def make_cases(engine, n, start=T0, step=timedelta(hours=1)):
    """n cases whose Granska tasks are created one step apart (due = created + P14D)."""
    out = []
    for i in range(n):
        clock.set(start + i * step)
        out.append(
            engine.start_case("test_initiativ", business_key=f"KS-{i:03d}", actor="system").open_tasks[0]
        )
    return out


def test_group_list_claim_moves_the_task_to_mine(engine, staff):
    tasks = make_cases(engine, 2)
    s = staff("anna")
    page = html(s.get("/uppgifter?lista=grupp"))
    assert task_ids_in(page) == tasks
    assert re.search(r'Min grupps uppgifter <span class="count">2</span>', page)
    assert "Ej tagna uppgifter för dina roller: handlaggare." in page
    r = s.post(f"/uppgifter/{tasks[1]}/ta", {"next": "/uppgifter?lista=grupp"})
    assert r.location == "/uppgifter?lista=grupp"
    page = html(s.get("/uppgifter?lista=grupp"))
    assert task_ids_in(page) == [tasks[0]]
    page = html(s.get("/uppgifter"))
    assert task_ids_in(page) == [tasks[1]] and 'Mina uppgifter <span class="count">1</span>' in page
    assert "Lämna tillbaka" in page
    # another role sees none of it
    other = html(staff("bertil").get("/uppgifter?lista=grupp"))
    assert task_ids_in(other) == [] and "Inga uppgifter här just nu." in other


def test_sorted_by_least_time_left_first_and_overdue_visible_in_words(engine, staff):
    tasks = make_cases(engine, 3, step=timedelta(days=7))  # due T0+14d, +21d, +28d
    clock.set(T0 + timedelta(days=20))  # first overdue, second due in 1 day, third in 8 days
    s = staff("anna")
    page = html(s.get("/uppgifter?lista=grupp"))
    assert task_ids_in(page) == tasks
    rows = page.split("data-task-id=")[1:]
    assert "Försenad" in rows[0] and "row-overdue" in page
    assert "Snart" in rows[1] and "Försenad" not in rows[1]
    assert "Försenad" not in rows[2] and "Snart" not in rows[2]
    assert "1 försenade" in page
    created = html(s.get("/uppgifter?lista=grupp&sortering=skapad"))
    assert task_ids_in(created) == list(reversed(tasks))


def test_filters_overdue_due_within_routine_and_version(engine, staff):
    tasks = make_cases(engine, 3, step=timedelta(days=7))
    clock.set(T0 + timedelta(days=20))
    s = staff("anna")
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&forsenade=1"))) == tasks[:1]
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&inom=3"))) == tasks[:2]
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&inom=30"))) == tasks
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&rutin=test_initiativ"))) == tasks
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&rutin=annan"))) == []
    with engine.session() as db:
        definition_id = db.execute(sa.select(UserTask.definition_id).limit(1)).scalar()
    page = html(s.get(f"/uppgifter?lista=grupp&version={definition_id}"))
    assert task_ids_in(page) == tasks and f'<option value="{definition_id}" selected>' in page
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&version=nope"))) == []
    # junk parameters fall back to defaults instead of failing
    assert s.get("/uppgifter?lista=x&inom=abc&sida=-4&per_sida=zz").status_code == 200


def test_pagination(engine, staff):
    tasks = make_cases(engine, 7)
    s = staff("anna")
    first = html(s.get("/uppgifter?lista=grupp&per_sida=5"))
    assert task_ids_in(first) == tasks[:5] and "Sida 1 av 2" in first and 'rel="next"' in first
    second = html(s.get("/uppgifter?lista=grupp&per_sida=5&sida=2"))
    assert task_ids_in(second) == tasks[5:] and "Sida 2 av 2" in second and 'rel="prev"' in second
    assert task_ids_in(html(s.get("/uppgifter?lista=grupp&per_sida=5&sida=9"))) == []


def test_home_redirects_to_the_inbox(staff):
    r = staff("anna").get("/")
    assert r.status_code == 302 and r.location == "/uppgifter"

"""Camunda's task query (``GET /task``, ``engine.camunda_queries``) against a plain Python reading of the
same filters, over tasks that differ in every filtered column: built once per shape with the values as
parameters, the statement must still answer each filter, each combination and each sort exactly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from engine import camunda_queries as q
from engine.models import TaskCandidate, UserTask
from tests.engine.helpers import add_staff, deploy_fixture

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def tasks(d):
    """Three cases (business keys A, B, None) and 24 tasks: open or done, assigned or not, offered to
    groups and/or users, with due, follow-up and created times and priorities spread out."""
    add_staff(d)
    deploy_fixture(d)
    cases = [
        d.start_case(
            "test_initiativ", business_key=key, variables={"initiator_email": "a@example.se"}, actor="hanna"
        )
        for key in ("A", "B", None)
    ]
    groups = [["handlaggare"], ["namnd"], ["handlaggare", "namnd"], []]
    users = [[], ["nils"], [], ["hanna", "olle"]]
    rows = []
    with d.session() as s, s.begin():
        for n in range(24):
            case = cases[n % 3]
            rows.append(
                UserTask(
                    id=f"t{n:02d}",
                    case_id=case.id,
                    definition_id=f"def-{n % 2}",
                    process_key="test_initiativ" if n % 4 else "annan_rutin",
                    element_id=f"El{n % 5}",
                    name=["Granska", "Besluta", "granska igen", None][n % 4],
                    documentation=None,
                    lane=None,
                    candidate_groups=groups[n % 4],
                    candidate_users=users[(n // 4) % 4],
                    assignee=[None, "hanna", None, "nils", None, "olle"][n % 6],
                    state="completed" if n % 7 == 6 else "open",
                    created_at=T0 + timedelta(hours=n),
                    due_at=None if n % 5 == 0 else T0 + timedelta(days=(n * 7) % 11),
                    follow_up_at=None if n % 3 == 0 else T0 + timedelta(days=(n * 5) % 9),
                    priority=(n * 37) % 100,
                    form={},
                )
            )
        s.add_all(rows)
        s.flush()
        s.add_all(
            TaskCandidate(task_id=t.id, kind=kind, value=v)
            for t in rows
            for kind, values in (("group", t.candidate_groups), ("user", t.candidate_users))
            for v in values
        )
    keys = {c.id: key for c, key in zip(cases, ("A", "B", None), strict=True)}
    with d.session() as s:  # the fixture's own tasks (the started cases') are part of the data too
        every = [t for t in s.query(UserTask).all() if t.state == "open"]
    return every, keys


def reference(every, keys, f: q.TaskFilter, roles_of) -> list[UserTask]:
    """The filters as the Camunda reference describes them, in Python."""

    def offered(t, groups=(), users=()):
        return bool(set(t.candidate_groups) & set(groups)) or bool(set(t.candidate_users) & set(users))

    out = []
    for t in every:
        checks = [
            f.task_id is None or t.id == f.task_id,
            f.process_instance_id is None or t.case_id == f.process_instance_id,
            f.process_definition_id is None or t.definition_id == f.process_definition_id,
            f.process_definition_key is None or t.process_key == f.process_definition_key,
            not f.process_definition_keys or t.process_key in f.process_definition_keys,
            f.business_key is None or keys.get(t.case_id) == f.business_key,
            f.task_definition_key is None or t.element_id == f.task_definition_key,
            f.name is None or t.name == f.name,
            not f.name_like or (t.name is not None and _like(t.name, f.name_like)),
            f.assignee is None or t.assignee == f.assignee,
            not f.assigned or t.assignee is not None,
            not f.unassigned or t.assignee is None,
            not f.candidate_group or offered(t, groups=[f.candidate_group]),
            not f.candidate_groups or offered(t, groups=f.candidate_groups),
            not f.candidate_user or offered(t, groups=roles_of(f.candidate_user), users=[f.candidate_user]),
            not (f.candidate_group or f.candidate_groups or f.candidate_user)
            or f.include_assigned
            or t.assignee is None,
            not f.with_candidate_groups or bool(t.candidate_groups),
            not f.without_candidate_groups or not t.candidate_groups,
            f.due_before is None or (t.due_at is not None and t.due_at < f.due_before),
            f.due_after is None or (t.due_at is not None and t.due_at > f.due_after),
            f.follow_up_before is None
            or (t.follow_up_at is not None and t.follow_up_at < f.follow_up_before),
            f.follow_up_after is None or (t.follow_up_at is not None and t.follow_up_at > f.follow_up_after),
            f.created_before is None or t.created_at < f.created_before,
            f.created_after is None or t.created_at > f.created_after,
            f.min_priority is None or t.priority >= f.min_priority,
            f.max_priority is None or t.priority <= f.max_priority,
            f.priority is None or t.priority == f.priority,
            not f.process_instance_ids or t.case_id in f.process_instance_ids,
            not f.task_definition_keys or t.element_id in f.task_definition_keys,
            not f.assignees or t.assignee in f.assignees,
            f.visible_to is None
            or t.assignee == f.visible_to[0]
            or offered(t, groups=f.visible_to[1], users=[f.visible_to[0]]),
        ]
        if all(checks):
            out.append(t)
    columns = {
        "dueDate": "due_at",
        "followUpDate": "follow_up_at",
        "created": "created_at",
        "priority": "priority",
        "name": "name",
        "assignee": "assignee",
    }
    out.sort(key=lambda t: t.id)
    for key, direction in reversed(f.sorting):  # stable sorts, last key first; NULLs last either way
        present = [t for t in out if getattr(t, columns[key]) is not None]
        missing = [t for t in out if getattr(t, columns[key]) is None]
        present.sort(key=lambda t: getattr(t, columns[key]), reverse=direction == "desc")
        out = present + missing
    first = f.first_result or 0
    return out[first : None if f.max_results is None else first + f.max_results]


def _like(value: str, pattern: str) -> bool:
    import re

    return re.fullmatch(re.escape(pattern).replace("%", ".*").replace("_", "."), value) is not None


def _filters(every, keys):
    case_a = next(c for c, k in keys.items() if k == "A")
    due = T0 + timedelta(days=5)
    single = [
        {"task_id": "t01"},
        {"task_id": "t06"},  # completed: not in the list
        {"process_instance_id": case_a},
        {"process_definition_id": "def-1"},
        {"process_definition_key": "annan_rutin"},
        {"process_definition_keys": ["annan_rutin", "test_initiativ"]},
        {"business_key": "A"},
        {"business_key": "finns-inte"},
        {"task_definition_key": "El3"},
        {"name": "Granska"},
        {"name": ""},
        {"name_like": "%ranska%"},
        {"name_like": "Bes_uta"},
        {"assignee": "hanna"},
        {"assigned": True},
        {"unassigned": True},
        {"candidate_group": "namnd"},
        {"candidate_group": "namnd", "include_assigned": True},
        {"candidate_groups": ["namnd", "handlaggare"]},
        {"candidate_user": "hanna"},
        {"candidate_user": "olle", "include_assigned": True},
        {"candidate_user": "okand"},
        {"with_candidate_groups": True},
        {"without_candidate_groups": True},
        {"due_before": due},
        {"due_after": due},
        {"follow_up_before": T0 + timedelta(days=4)},
        {"follow_up_after": T0 + timedelta(days=4)},
        {"created_before": T0 + timedelta(hours=10)},
        {"created_after": T0 + timedelta(hours=10)},
        {"min_priority": 40},
        {"max_priority": 40},
        {"visible_to": ("hanna", {"handlaggare"})},
        {"visible_to": ("nils", {"namnd"})},
        {"visible_to": ("olle", set())},
        {"priority": 11},
        {"process_instance_ids": [case_a, "finns-inte"]},
        {"task_definition_keys": ["El1", "El3"]},
        {"assignees": ["hanna", "olle"]},
    ]
    yield from single
    for a, b in itertools.combinations(single[2:], 2):  # every pair of filters, one query shape each
        if a.keys() & b.keys():
            continue
        yield {**a, **b}
    sorts = [
        [("dueDate", "asc")],
        [("dueDate", "desc")],
        [("priority", "desc"), ("created", "asc")],
        [("followUpDate", "asc"), ("name", "desc")],
        [("assignee", "asc")],
    ]
    for sorting, (first, maximum) in itertools.product(sorts, [(None, None), (0, 5), (3, 4), (20, 10)]):
        yield {"sorting": sorting, "first_result": first, "max_results": maximum}
        yield {"sorting": sorting, "first_result": first, "max_results": maximum, "unassigned": True}


def test_task_query_answers_every_filter_shape_as_the_reference_does(d, tasks):
    every, keys = tasks
    roles = {"hanna": {"handlaggare"}, "henrik": {"handlaggare"}, "nils": {"namnd"}}
    seen = 0
    with d.session() as s:
        for given in _filters(every, keys):
            f = q.TaskFilter(**given)
            expected = [t.id for t in reference(every, keys, f, lambda u: roles.get(u, set()))]
            assert [t.id for t in q.task_list(s, f)] == expected, given
            counted = q.TaskFilter(
                **{k: v for k, v in given.items() if k not in ("first_result", "max_results")}
            )
            assert q.task_count(s, counted) == len(
                reference(every, keys, counted, lambda u: roles.get(u, set()))
            )
            seen += 1
    assert seen > 500  # pairs included: many shapes, each built once and run with its values


def test_one_shape_serves_different_values(d, tasks):
    """The statement is cached per shape: the second call with other values must not see the first's."""
    with d.session() as s:
        hanna = q.task_list(s, q.TaskFilter(assignee="hanna"))
        nils = q.task_list(s, q.TaskFilter(assignee="nils"))
        assert hanna and nils
        assert {t.assignee for t in hanna} == {"hanna"} and {t.assignee for t in nils} == {"nils"}
        first = q.task_list(s, q.TaskFilter(candidate_groups=["namnd"]))
        both = q.task_list(s, q.TaskFilter(candidate_groups=["namnd", "handlaggare"]))
        assert set(t.id for t in first) < set(t.id for t in both)

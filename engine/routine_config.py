"""Per-routine worker configuration: calendar schedules and reminder policy, from YAML beside the diagrams.

``processes/<folder>/schedules.yaml`` lists schedules; ``processes/<folder>/reminders.yaml`` holds the
reminder policy per routine (and per task) plus the role → manager map used for escalation. Files are
small and read on every scan (once a minute), so an edit takes effect without a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "processes"


def config_dir() -> Path:
    return Path(os.environ.get("DELAKTIG_PROCESSES_DIR") or DEFAULT_DIR)


@dataclass(frozen=True)
class Schedule:
    key: str
    process: str
    first: date
    month: int
    day: int
    every_years: int = 1
    time: time = time(7, 0)
    # "next": move a date that is not a Swedish working day to the next working day.
    working_day: str | None = None
    label: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)  # start variables of a scheduled case
    on_demand_variables: dict[str, Any] = field(default_factory=dict)  # … of a case started "vid behov"


@dataclass(frozen=True)
class Policy:
    """Reminder policy of one task (routine defaults merged with the task's own lines)."""

    default_due: str | None = None  # used when the diagram gives the task no camunda:dueDate
    working_days: bool = False  # default_due counted in Swedish working days
    before_due_working_days: int = 2  # 0 = no advance reminder
    on_due: bool = True
    overdue_every_days: int = 3  # 0 = no repeated overdue reminders
    escalate_after_days: int = 5  # 0 = never escalate
    escalate_to: str = "manager"  # "manager" (the managers map) or "role:<role>"
    notify_on_assignment: bool = True


@dataclass
class RoutineConfig:
    schedules: list[Schedule] = field(default_factory=list)
    managers: dict[str, str] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # process key or "*" → raw lines

    def policy(self, process_key: str, element_id: str | None = None) -> Policy:
        merged: dict[str, Any] = {}
        for source in (self.policies.get("*", {}), self.policies.get(process_key, {})):
            merged.update({k: v for k, v in source.items() if k != "tasks"})
        task_lines = (self.policies.get(process_key, {}).get("tasks") or {}).get(element_id or "", {})
        merged.update(task_lines)
        known = {f.name for f in fields(Policy)}
        unknown = set(merged) - known
        if unknown:
            raise ValueError(f"okända inställningar för påminnelser i {process_key}: {sorted(unknown)}")
        return replace(Policy(), **merged)

    def schedule(self, key: str) -> Schedule:
        for s in self.schedules:
            if s.key == key:
                return s
        raise KeyError(key)


def _schedule(raw: dict[str, Any]) -> Schedule:
    raw = dict(raw)
    first = raw.pop("first")
    first = first if isinstance(first, date) else date.fromisoformat(str(first))
    at = raw.pop("time", "07:00")
    at = at if isinstance(at, time) else time.fromisoformat(str(at))
    raw.setdefault("month", first.month)
    raw.setdefault("day", first.day)
    return Schedule(first=first, time=at, **raw)


def load(directory: Path | None = None) -> RoutineConfig:
    directory = Path(directory or config_dir())
    config = RoutineConfig()
    for path in sorted(directory.glob("*/schedules.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config.schedules += [_schedule(s) for s in data.get("schedules") or []]
    for path in sorted(directory.glob("*/reminders.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config.managers.update(data.get("managers") or {})
        for key, lines in (data.get("routines") or {}).items():
            config.policies.setdefault(key, {}).update(lines or {})
    keys = [s.key for s in config.schedules]
    if len(keys) != len(set(keys)):
        raise ValueError(f"schemanycklar förekommer flera gånger: {keys}")
    return config

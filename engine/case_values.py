"""What every state change of a case shares: the answer it gives (``CaseInfo``), the check of variable
names, and the way variables reach the case's scope and every task of it. Used by ``engine.app`` and
``engine.external_tasks``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import Problem, ValidationFailed
from engine.runtime import TYPES_KEY, CaseRun, ready_user_tasks


@dataclass
class CaseInfo:
    id: str
    definition_id: str
    process_key: str
    business_key: str | None
    status: str
    variables: dict[str, Any]
    open_tasks: list[str] = field(default_factory=list)
    version: int = 1
    # Declared types of variables whose value cannot tell (Camunda's Long, Short, Date, Json …):
    # CaseRun.declare_types.
    variable_types: dict[str, str] = field(default_factory=dict)


def info(run: CaseRun) -> CaseInfo:
    c = run.case
    data = dict(c.data or {})
    types = data.pop(TYPES_KEY, None) or {}
    return CaseInfo(
        c.id,
        c.definition_id,
        c.process_key,
        c.business_key,
        c.status,
        data,
        sorted(run.ready_after if run.ready_after is not None else ready_user_tasks(run.wf)),
        c.version,
        types,
    )


def check_variables(variables: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(variables, dict):
        raise ValidationFailed([Problem("variables", "variables must be an object")])
    bad = [k for k in variables if not isinstance(k, str) or not k.isidentifier() or k.startswith("_")]
    if bad:
        raise ValidationFailed([Problem(str(k), "invalid variable name") for k in bad])
    return variables

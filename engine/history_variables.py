"""Read-only: a case's variables as Camunda's historic variable instances (``GET /history/variable-instance``).

A case's data keeps its variables' last values, also after it ended, where Camunda's runtime API no longer
answers: clients read an ended case's outcome here. One row per variable and case; the variables are
walked in SQL (``jsonb_each``/``json_each``) so filters, sorting and paging cost a page, then the page's
values are read from the case rows. What each variable was before is in the audit log (each completion's
and change's before → after).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.camunda_queries import Sorting, _like, _order, _page, _readable
from engine.models import Case
from engine.runtime import TYPES_KEY


@dataclass
class VariableInstanceFilter:
    ids: list[str] | None = None  # "<case id>:<name>"
    process_instance_ids: list[str] | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    name: str | None = None
    name_like: str | None = None
    names: list[str] | None = None
    sorting: Sorting = field(default_factory=list)
    # (user, roles): only cases that user may read (engine.inbox.readable_cases); None: all.
    readable_by: tuple[str, set[str]] | None = None
    first_result: int | None = None
    max_results: int | None = None


@dataclass(frozen=True)
class VariableInstance:
    id: str
    name: str
    value: Any
    declared_type: str | None
    case: Case


def _rows(s: Session, f: VariableInstanceFilter):
    """(case id, variable name) of the variables ``f`` asks for, as a subquery-able select."""
    dialect = s.get_bind().dialect.name
    each = sa.func.jsonb_each if dialect == "postgresql" else sa.func.json_each
    var = each(Case.data).table_valued("key", name="var")
    name = var.c.key
    q = sa.select(Case.id.label("case_id"), name.label("name")).select_from(Case).join(var, sa.true())
    where: list[Any] = [sa.func.substr(name, 1, 1) != "_", *_readable(s, Case.id, f.readable_by)]
    if f.process_instance_ids is not None:
        where.append(Case.id.in_(f.process_instance_ids or [""]))
    if f.process_definition_id is not None:
        where.append(Case.definition_id == f.process_definition_id)
    if f.process_definition_key is not None:
        where.append(Case.process_key == f.process_definition_key)
    if f.name is not None:
        where.append(name == f.name)
    if f.name_like is not None:
        where.append(_like(name, f.name_like))
    if f.names is not None:
        where.append(name.in_(f.names or [""]))
    if f.ids is not None:
        pairs = [tuple(i.split(":", 1)) for i in f.ids if ":" in i]
        where.append(sa.or_(*(sa.and_(Case.id == c, name == n) for c, n in pairs)) if pairs else sa.false())
    return q.where(*where), {"instanceId": Case.id, "variableName": name}


def variable_instances(s: Session, f: VariableInstanceFilter) -> list[VariableInstance]:
    q, columns = _rows(s, f)
    q = q.order_by(*_order(columns, f.sorting, Case.id), columns["variableName"])
    page = s.execute(_page(q, f.first_result, f.max_results)).all()
    cases = {
        c.id: c for c in s.scalars(sa.select(Case).where(Case.id.in_({r.case_id for r in page} or {""})))
    }
    out = []
    for r in page:
        case = cases[r.case_id]
        data = case.data or {}
        types = data.get(TYPES_KEY) or {}
        out.append(
            VariableInstance(f"{r.case_id}:{r.name}", r.name, data.get(r.name), types.get(r.name), case)
        )
    return out


def variable_instance_count(s: Session, f: VariableInstanceFilter) -> int:
    q, _columns = _rows(s, f)
    return s.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()

"""Conditions on a case's variables — Camunda's ``variables`` and ``processVariables`` query filters — as
SQL, the same on PostgreSQL (jsonb) and SQLite (json1).

A case keeps its variables as one JSON object (``case.data``). A condition holds when the case has a
variable of that name whose value compares as asked, and only against values of the same kind, as in
Camunda: a string matches strings, a number any number (Integer, Long and Double alike), a boolean
booleans, a date Date variables (which Delaktig keeps as ISO 8601 strings with milliseconds in Swedish time:
``webhooks.rest.variables.parse_value``; a String holding such text is declared one in ``_types``, and is
no Date), null a null value. A string that also names a date (``VariableCondition.as_date``: a JSON
filter value in Camunda's date format) compares as that string with the other strings and as that date
with Date variables. ``neq`` holds when the variable exists and is not equal, so a case without it is left
out, again as in Camunda.

The variables are walked with ``jsonb_each``/``json_each`` rather than looked up by path: any name works
(SQLite's paths cannot spell a ``"``), and a case-insensitive name is one ``lower()`` away.
"""

from __future__ import annotations

import operator as op
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from engine.clock import STOCKHOLM

OPERATORS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "like")
# Each condition is an EXISTS nested in the WHERE: SQLite refuses an expression tree deeper than 1000
# (a few hundred conditions), so more than this many is the client's error, not a server fault.
MAX_CONDITIONS = 100
MAX_LIKE_PATTERN = 500
# As Camunda's LIKE: a backslash escapes "%" and "_" (PostgreSQL's default; SQLite has none unless told).
LIKE_ESCAPE = "\\"
_COMPARE = {"gt": op.gt, "gteq": op.ge, "lt": op.lt, "lteq": op.le}
# A stored Date: 2026-03-02T09:00:00.000+01:00 (parse_value's form; the offset is Swedish time's), and
# nothing else: a String "…+0100" is no Date.
_DATE_LIKE = "____-__-__T__:__:__.______:__"
# Dates compare as instants, never as text: the text of Swedish time repeats an hour each autumn
# (02:30+02:00 is before 02:15+01:00), and a value may carry another offset. PostgreSQL compares them in
# a JSON path (silent: a text that is no real date compares as nothing, never an error); SQLite brings
# both to UTC text with strftime (NULL for no date).
_PG_DATE = '.datetime("YYYY-MM-DD\\"T\\"HH24:MI:SS.MSTZH:TZM")'
_PG_DATE_OPERATORS = {"eq": "==", "neq": "==", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<="}
_SQLITE_UTC = "%Y-%m-%dT%H:%M:%f"


def _ends_in_escape(pattern: str) -> bool:
    """PostgreSQL refuses such a pattern mid-query and SQLite matches nothing: both refuse it up front."""
    return (len(pattern) - len(pattern.rstrip(LIKE_ESCAPE))) % 2 == 1


class VariableFilterError(ValueError):
    """A condition Camunda refuses too (``like`` on a number, ``gt`` on a boolean …)."""


@dataclass(frozen=True)
class VariableCondition:
    name: str
    operator: str
    value: Any  # str, int, float, bool, None, or an aware datetime for a Date
    # For a str value: the date it also names (compared with Date variables; with other strings the text).
    as_date: datetime | None = None

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise VariableFilterError(f"Invalid variable comparator specified: {self.operator}")
        if self.as_date is not None and (not isinstance(self.value, str) or self.operator == "like"):
            raise VariableFilterError(
                f"Variable '{self.name}': a date alternative is for a string, not 'like'"
            )
        if self.operator == "like" and self.kind != "string":
            raise VariableFilterError(
                f"Variable '{self.name}': only string values can be used with the 'like' operator"
            )
        if self.operator == "like" and len(self.value) > MAX_LIKE_PATTERN:
            # Matching costs text × pattern on both databases; a variable can hold megabytes of text.
            raise VariableFilterError(
                f"Variable '{self.name}': a 'like' pattern is at most {MAX_LIKE_PATTERN} characters"
            )
        if self.operator == "like" and _ends_in_escape(self.value):
            raise VariableFilterError(
                f"Variable '{self.name}': a 'like' pattern cannot end with the escape character \\"
            )
        if self.operator in _COMPARE and self.kind in ("boolean", "null"):
            raise VariableFilterError(
                f"Variable '{self.name}': booleans and null cannot be used with the '{self.operator}' operator"
            )

    @property
    def kind(self) -> str:
        v = self.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, (int, float)):
            return "number"
        if isinstance(v, datetime):
            return "date"
        return "string_or_date" if self.as_date is not None else "string"

    def bound_value(self) -> Any:
        if isinstance(self.value, datetime):
            return _stored_date(self.value)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"  # as both databases name a JSON boolean
        return self.value


def _stored_date(value: datetime) -> str:
    """A date as a Date variable keeps it (``webhooks.rest.variables.parse_value``)."""
    return value.astimezone(STOCKHOLM).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class VariableQuery:
    """The conditions of one query, with Camunda's ``variableNamesIgnoreCase``/``variableValuesIgnoreCase``."""

    conditions: tuple[VariableCondition, ...]
    names_ignore_case: bool = False
    values_ignore_case: bool = False

    def __post_init__(self) -> None:
        if len(self.conditions) > MAX_CONDITIONS:
            raise VariableFilterError(
                f"At most {MAX_CONDITIONS} variable conditions in one query, not {len(self.conditions)}"
            )

    def shape(self) -> tuple:
        """What the SQL text depends on: the operators, the kinds and the flags (values are parameters)."""
        kinds = tuple((c.operator, c.kind) for c in self.conditions)
        return kinds, self.names_ignore_case, self.values_ignore_case

    def params(self, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        # Case-insensitive names and values are folded by the database's lower() on both sides (``where``),
        # not by Python's here: the two disagree ("İ" is one letter to PostgreSQL, two to Python).
        for i, c in enumerate(self.conditions):
            out[f"{prefix}{i}_name"] = c.name
            if c.kind != "null":  # null is a type test (_matches), no parameter
                out[f"{prefix}{i}_value"] = c.bound_value()
            if c.as_date is not None:
                out[f"{prefix}{i}_date"] = _stored_date(c.as_date)
        return out


@dataclass(frozen=True)
class _Each:
    """One variable of the case, as the dialect's ``json_each`` shows it."""

    key: Any
    text: Any  # the value as text (strings; dates)
    number: Any  # the value as a number, NULL when it is not one
    is_string: Any
    is_number: Any
    boolean: Any  # 'true' or 'false' for a boolean, NULL otherwise
    is_null: Any
    declared: Any  # the type declared for it in the case's ``_types`` (engine.runtime.TYPES_KEY), or NULL
    # (operator, a date parameter in parse_value's form) -> the variable, a date, compares so as an instant
    date_compare: Any


def _each(data: Any, dialect: str) -> tuple[Any, _Each]:
    if dialect == "postgresql":
        var = sa.func.jsonb_each(data).table_valued(sa.column("key", sa.String), sa.column("value", JSONB))
        var = var.alias("var")
        kind = sa.func.jsonb_typeof(var.c.value)
        text = var.c.value.op("#>>", return_type=sa.String)(sa.literal_column("'{}'::text[]"))
        return var, _Each(
            key=var.c.key,
            text=text,
            # CASE, so a non-number is never cast (PostgreSQL need not evaluate an AND left to right).
            number=sa.case((kind == "number", sa.cast(text, sa.Numeric))),
            is_string=kind == "string",
            is_number=kind == "number",
            boolean=sa.case((kind == "boolean", text)),
            is_null=kind == "null",
            declared=sa.func.jsonb_extract_path_text(data, sa.literal_column("'_types'"), var.c.key),
            date_compare=lambda operator, date: sa.func.jsonb_path_match(
                var.c.value,
                sa.literal_column(f"'${_PG_DATE} {_PG_DATE_OPERATORS[operator]} $d{_PG_DATE}'::jsonpath"),
                sa.func.jsonb_build_object(sa.literal_column("'d'"), date),
                sa.true(),
            ),
        )
    var = sa.func.json_each(data).table_valued("key", "value", "type").alias("var")
    # (a lookup, not a JSON path: a path cannot spell every name)
    types = sa.func.json_each(data, sa.literal_column("'$._types'")).table_valued("key", "value").alias("vt")
    declared = sa.select(types.c.value).where(types.c.key == var.c.key).scalar_subquery()
    return var, _Each(
        key=var.c.key,
        text=var.c.value,
        number=sa.case((var.c.type.in_(["integer", "real"]), var.c.value)),
        is_string=var.c.type == "text",
        is_number=var.c.type.in_(["integer", "real"]),
        boolean=sa.case((var.c.type.in_(["true", "false"]), var.c.type)),
        is_null=var.c.type == "null",
        declared=declared,
        date_compare=lambda operator, date: _COMPARE.get(operator, op.eq)(
            sa.func.strftime(_SQLITE_UTC, var.c.value), sa.func.strftime(_SQLITE_UTC, date)
        ),
    )


def _is_date(v: _Each) -> Any:
    """``v`` is a Date variable: a string in the stored form that is not declared a String."""
    return sa.and_(
        v.is_string,
        v.text.like(_DATE_LIKE),
        sa.func.coalesce(v.declared, sa.literal_column("''")) != "String",
    )


def _matches(
    v: _Each, operator: str, kind: str, value: Any, values_ignore_case: bool, date: Any = None
) -> Any:
    """The variable ``v`` has ``kind`` and equals (``eq``) or compares with ``value`` (and for a
    ``string_or_date``, a Date variable with ``date``)."""
    if kind == "null":
        return v.is_null
    if kind == "boolean":
        return v.boolean == value
    if kind == "number":
        compare = _COMPARE.get(operator, op.eq)
        return sa.and_(v.is_number, compare(v.number, value))
    compare = _COMPARE.get(operator, op.eq)
    if kind == "string_or_date":
        as_string = _matches(v, operator, "string", value, values_ignore_case)
        return sa.or_(
            sa.and_(sa.not_(_is_date(v)), as_string), sa.and_(_is_date(v), v.date_compare(operator, date))
        )
    if kind == "date":
        return sa.and_(_is_date(v), v.date_compare(operator, value))
    text = v.text
    if values_ignore_case and kind == "string":
        text, value = sa.func.lower(text), sa.func.lower(value)
    if operator == "like":
        return sa.and_(v.is_string, text.like(value, escape=LIKE_ESCAPE))
    return sa.and_(v.is_string, compare(text, value))


def where(data: Any, shape: tuple, dialect: str, prefix: str) -> list[sa.ColumnElement[bool]]:
    """One EXISTS per condition of a query of this ``shape`` (``VariableQuery.shape``) over the variables
    in ``data`` (a JSON column of the outer query). Names and values are the bind parameters of
    ``VariableQuery.params(prefix)``, so a statement can be built once per shape."""
    kinds, names_ignore_case, values_ignore_case = shape
    number_type = sa.Numeric if dialect == "postgresql" else sa.types.NullType
    out = []
    for i, (operator, kind) in enumerate(kinds):
        var, v = _each(data, dialect)
        name: Any = sa.bindparam(f"{prefix}{i}_name", type_=sa.String)
        key = v.key
        if names_ignore_case:
            key, name = sa.func.lower(key), sa.func.lower(name)
        value = date = None
        if kind != "null":
            value = sa.bindparam(f"{prefix}{i}_value", type_=number_type() if kind == "number" else sa.String)
        if kind == "string_or_date":
            date = sa.bindparam(f"{prefix}{i}_date", type_=sa.String)
        test = _matches(v, operator, kind, value, values_ignore_case, date)
        if operator == "neq":
            test = sa.not_(test)
        # Names starting with "_" are Delaktig's own entries (``_types``), never a variable: without this
        # a ``neq`` would match every case that has one.
        internal = sa.func.substr(v.key, 1, 1) == "_"
        out.append(
            sa.exists(sa.select(sa.literal(1)).select_from(var).where(key == name, sa.not_(internal), test))
        )
    return out

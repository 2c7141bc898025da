"""Query parameters the Camunda way: from the query string (GET) or a JSON body (POST queries).

Bad values answer as Camunda does: 400 InvalidRequestException "Cannot set query parameter 'x' to value 'y'".
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from flask import request

from engine.variable_filters import VariableCondition, VariableFilterError, VariableQuery
from webhooks.rest.errors import RestError, invalid
from webhooks.rest.variables import DATE_PATTERN, parse_date


def _shown(value: Any) -> str:
    """A value as a message shows it: JSON for lists and objects, at most 100 characters."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= 100 else text[:100] + "…"


def _bad(name: str, value: Any) -> Exception:
    return invalid(f"Cannot set query parameter '{name}' to value '{value}'")


# Parameters that change nothing in Delaktig: cache busters, tenant-less queries (Delaktig has no
# tenants), the case-insensitivity switches of variable filters on a query without such filters, and
# the flags whose value is true of every case and task here (nothing is ever suspended).
IGNORABLE = {"_": None, "withoutTenantId": None, "variableNamesIgnoreCase": None, "variableValuesIgnoreCase": None,
             "deserializeValues": None, "active": "true", "suspended": "false"}  # fmt: skip


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


class Params:
    def __init__(self, source: Any, from_json: bool = False):
        self.src = source
        self.json = from_json
        self.seen: set[str] = set()

    def _get(self, name: str) -> Any:
        self.seen.add(name)
        return self.src.get(name)

    def has(self, name: str) -> bool:
        return self._get(name) is not None

    def refuse_unused(self) -> None:
        """A parameter the query did not read is a filter Delaktig does not offer (``processVariables``,
        ``orQueries``, ``tenantIdIn`` …): answering as if it were not there would return rows the
        client asked to leave out, so it is a 400 naming it."""
        unused = []
        for name in self.src:
            if name in self.seen or self.src.get(name) in (None, "", [], {}):
                continue  # read, or an empty filter (clients send "processVariables": []): no change
            if _false(self.src.get(name)):
                # Camunda applies a boolean filter only when it is true (``if (Boolean.TRUE.equals(…))``
                # in its query DTOs): false is no filter, and generated clients send every flag.
                continue
            if name in IGNORABLE and IGNORABLE[name] in (None, str(self.src.get(name)).lower()):
                continue
            unused.append(name)
        if unused:
            raise invalid(f"Delaktig does not support the query parameter(s) {', '.join(sorted(unused))}")

    def str(self, name: str) -> str | None:
        value = self._get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad(name, value)
        return value

    def bool(self, name: str) -> bool:
        value = self._get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(name, value)

    def int(self, name: str, minimum: int = 0, maximum: int = 2**31 - 1) -> int | None:
        """An integer within Java's int range (Camunda's paging and priority parameters are ints)."""
        value = self._get(name)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            if isinstance(value, str) and len(value.strip()) > 12:
                raise ValueError
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise _bad(name, value) from None
        if not minimum <= number <= maximum:
            raise _bad(name, value)
        return number

    def date(self, name: str):
        value = self._get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad(name, value)
        # A "+" left unencoded in a query string arrives as a space.
        return parse_date(value.replace(" ", "+"), f"query parameter '{name}'")

    def list(self, name: str) -> list[str] | None:
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if isinstance(value, str):
            return [v for v in value.split(",") if v]
        raise _bad(name, value)

    def variables(self, name: str) -> VariableQuery | None:
        """Camunda's variable filters: ``name_op_value,…`` in a query string (values are strings there, or
        dates in Camunda's date format), ``[{"name", "operator", "value"}]`` in a JSON body (values keep
        their JSON type). With ``variableNamesIgnoreCase`` / ``variableValuesIgnoreCase``."""
        given = self._get(name)
        names_ic, values_ic = self.bool("variableNamesIgnoreCase"), self.bool("variableValuesIgnoreCase")
        if given in (None, "", []):
            return None
        items: list[tuple[Any, Any, Any]] = []
        if isinstance(given, str) and not self.json:
            for expression in given.split(","):
                parts = expression.split("_")
                if len(parts) != 3 or not all(parts[:2]):
                    raise invalid(
                        f"variable query parameter has to have format KEY_OPERATOR_VALUE: '{expression}'"
                    )
                items.append((parts[0], parts[1], parts[2]))
        elif self.json and isinstance(given, list) and all(isinstance(x, dict) for x in given):
            items = [(x.get("name"), x.get("operator"), x.get("value")) for x in given]
        else:
            raise _bad(name, given)
        conditions = []
        for var, operator, value in items:
            if not isinstance(var, str) or not var or not isinstance(operator, str):
                raise invalid(f"Each of '{name}' needs a variable name and an operator")
            if isinstance(value, (dict, list)) or (isinstance(value, float) and value != value):
                raise invalid(
                    f"Variable '{var}' in '{name}': only strings, numbers, booleans, dates and null"
                )
            as_date = None
            if isinstance(value, str) and not self.json and DATE_PATTERN.match(value.replace(" ", "+")):
                # A query string has no types: text in Camunda's date format is a date there.
                value = parse_date(value.replace(" ", "+"), f"variable '{var}' in '{name}'")
            elif isinstance(value, str) and operator != "like" and DATE_PATTERN.match(value):
                # A JSON string keeps its type: it compares as a String with String variables; one in
                # Camunda's date format (which Camunda's REST reads as a Date) also as a date with Date
                # variables, so a date filter keeps working there (engine.variable_filters).
                try:
                    as_date = parse_date(value, f"variable '{var}' in '{name}'")
                except RestError:
                    as_date = None  # not a real date (a 13th month): only the String it is
            try:
                conditions.append(VariableCondition(var, operator, value, as_date))
            except VariableFilterError as e:
                raise invalid(str(e)) from None
        try:
            return VariableQuery(tuple(conditions), names_ic, values_ic)
        except VariableFilterError as e:
            raise invalid(str(e)) from None

    def paging(self) -> tuple[int | None, int | None]:
        """``firstResult`` and ``maxResults``. A POST query reads them from the query string, where
        Camunda's reference puts them (its body DTOs have no such fields), checked as on GET; a value in
        the JSON body is still honoured when the query string has none (some clients send both)."""
        if not self.json:
            return self.int("firstResult"), self.int("maxResults")
        query = Params(request.args)
        from_body = self.int("firstResult"), self.int("maxResults")
        from_query = query.int("firstResult"), query.int("maxResults")
        return tuple(q if q is not None else b for q, b in zip(from_query, from_body, strict=True))

    def sorting(self, allowed: set[str], always_null: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        """``sortBy``+``sortOrder`` (query string) or ``sorting: [{sortBy, sortOrder}]`` (JSON body).

        ``always_null``: Camunda's sort keys of a value Delaktig answers as null in every row (a task's
        ``lastUpdated`` …), and ``tenantId`` everywhere (Delaktig has no tenants): accepted, and since
        every row has the same null they change no order and are left out of the result."""
        items: list[Any] = []
        if self.json and self._get("sorting") is not None:
            sorting = self._get("sorting")
            if not isinstance(sorting, list) or not all(isinstance(x, dict) for x in sorting):
                raise _bad("sorting", sorting)
            items = sorting
        sort_by, order = self._get("sortBy"), self._get("sortOrder")
        if sort_by is not None or order is not None:
            if sort_by is None or order is None:
                raise invalid("Only a single sorting parameter specified. sortBy and sortOrder required")
            items = [{"sortBy": sort_by, "sortOrder": order}, *items]
        ignored = (always_null | {"tenantId"}) - allowed
        out = []
        for item in items:
            key, direction = item.get("sortBy"), item.get("sortOrder", "asc")
            # Strings only: a list or an object (Jackson cannot map them onto Camunda's String either)
            # is the client's error, never a lookup that fails.
            if not isinstance(key, str) or (key not in allowed and key not in ignored):
                raise _bad("sortBy", _shown(key))
            if not isinstance(direction, str) or direction not in ("asc", "desc"):
                raise _bad("sortOrder", _shown(direction))
            if key not in ignored:
                out.append((key, direction))
        return out


def strict(build):
    """For a filter builder ``build(p)``: after it has read what it supports, refuse what it did not."""

    @functools.wraps(build)
    def wrapper(p: Params, *args, **kwargs):
        result = build(p, *args, **kwargs)
        p.refuse_unused()
        return result

    return wrapper

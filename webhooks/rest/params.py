"""Query parameters the Camunda way: from the query string (GET) or a JSON body (POST queries).

Bad values answer as Camunda does: 400 InvalidRequestException "Cannot set query parameter 'x' to value 'y'".
"""

from __future__ import annotations

from typing import Any

from webhooks.rest.errors import invalid
from webhooks.rest.variables import parse_date


def _bad(name: str, value: Any) -> Exception:
    return invalid(f"Cannot set query parameter '{name}' to value '{value}'")


class Params:
    def __init__(self, source: Any, from_json: bool = False):
        self.src = source
        self.json = from_json

    def has(self, name: str) -> bool:
        return self.src.get(name) is not None

    def str(self, name: str) -> str | None:
        value = self.src.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad(name, value)
        return value

    def bool(self, name: str) -> bool:
        value = self.src.get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad(name, value)

    def int(self, name: str, minimum: int = 0, maximum: int = 2**31 - 1) -> int | None:
        """An integer within Java's int range (Camunda's paging and priority parameters are ints)."""
        value = self.src.get(name)
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
        value = self.src.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad(name, value)
        # A "+" left unencoded in a query string arrives as a space.
        return parse_date(value.replace(" ", "+"), f"query parameter '{name}'")

    def list(self, name: str) -> list[str] | None:
        value = self.src.get(name)
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if isinstance(value, str):
            return [v for v in value.split(",") if v]
        raise _bad(name, value)

    def paging(self) -> tuple[int | None, int | None]:
        return self.int("firstResult"), self.int("maxResults")

    def sorting(self, allowed: set[str]) -> list[tuple[str, str]]:
        """``sortBy``+``sortOrder`` (query string) or ``sorting: [{sortBy, sortOrder}]`` (JSON body)."""
        items: list[dict[str, Any]] = []
        if self.json and self.src.get("sorting") is not None:
            sorting = self.src.get("sorting")
            if not isinstance(sorting, list) or not all(isinstance(x, dict) for x in sorting):
                raise _bad("sorting", sorting)
            items = sorting
        sort_by, order = self.src.get("sortBy"), self.src.get("sortOrder")
        if sort_by is not None or order is not None:
            if sort_by is None or order is None:
                raise invalid("Only a single sorting parameter specified. sortBy and sortOrder required")
            items = [{"sortBy": sort_by, "sortOrder": order}, *items]
        out = []
        for item in items:
            key, direction = item.get("sortBy"), item.get("sortOrder", "asc")
            if key not in allowed:
                raise _bad("sortBy", key)
            if direction not in ("asc", "desc"):
                raise _bad("sortOrder", direction)
            out.append((key, direction))
        return out

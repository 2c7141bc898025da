"""Typed variables and dates, as Camunda 7's REST API writes them.

In: ``{"value": ..., "type": "String|Boolean|Integer|Long|Short|Double|Date|Json|Object|Null"}`` (type is
case-insensitive; without a type the JSON value's own type is used). A value that does not fit its type
is a 400 naming the variable. Case data is JSON, so values are stored as JSON: Date as an ISO 8601 string
in Swedish time (its date part is the Swedish date, which is what a date form field keeps), Json/Object
(application/json) as the parsed structure.

Out: the type is read from the JSON value (bool → Boolean, int → Integer or Long, float → Double, str →
String, null → Null, object/array → Json with the value serialised, as Camunda's Spin JSON type does),
unless the type it was written with is kept (``declared_types``, in the case's ``_types``): a JSON value
cannot tell a Long or Short from an Integer, a Json "42" from an Integer, an Object from a Json, nor a
Date (kept as text) from a String holding the same text. Form variables take their type from the form
field (long → Long, date → Date, enum → String …).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from engine.clock import STOCKHOLM
from engine.runtime import TYPES_KEY
from webhooks.guard import MAX_DEPTH, too_deep
from webhooks.rest.errors import invalid

INT_RANGE = {"integer": 2**31, "long": 2**63, "short": 2**15}
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$")


# --- dates ----------------------------------------------------------------------------------------------
def fmt_date(value: datetime | None) -> str | None:
    """Camunda's ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``, in UTC: ``2026-03-02T08:00:00.000+0000``."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo is not None else value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


# How a Date variable is kept (parse_value): ISO 8601 with milliseconds and the Swedish offset.
_STORED_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")


def fmt_offset_date(value: datetime) -> str:
    """Camunda's ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` keeping the value's own offset: ``…10:00:00.000+0100``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}" + value.strftime("%z")


def parse_date(text: str, what: str) -> datetime:
    """Camunda's format, also with ``Z``, ``+01:00`` or 1–6 fraction digits; always with an offset."""
    if not DATE_PATTERN.match(text or ""):
        raise invalid(
            f"Cannot convert value '{text}' of {what} to a date: expected yyyy-MM-dd'T'HH:mm:ss.SSSZ"
        )
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
        parsed.astimezone(UTC).astimezone(STOCKHOLM)  # a date at the calendar's edge has no UTC instant
        return parsed
    except (ValueError, OverflowError):
        raise invalid(f"Cannot convert value '{text}' of {what} to a date") from None


# --- in ---------------------------------------------------------------------------------------------------
def _type_error(name: str, value: Any, type_: str) -> Exception:
    shown = str(value) if len(str(value)) <= 100 else str(value)[:100] + "…"
    return invalid(
        f"Cannot convert value '{shown}' of type '{type_}' for variable '{name}': the value does not match the type"
    )


def parse_value(name: str, spec: Any) -> Any:
    """One typed variable → the Python value stored in the case."""
    if not isinstance(spec, dict):
        raise invalid(f"Variable '{name}' must be an object with 'value' and 'type'")
    value = spec.get("value")
    type_ = spec.get("type")
    if type_ is None:
        if isinstance(value, (dict, list)):
            raise invalid(f"Variable '{name}': an object or array value needs type 'Json'")
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            # A Long is the widest integer Camunda (and a database column) keeps.
            raise invalid(f"Variable '{name}': {value} is beyond a 64-bit integer")
        return value
    if not isinstance(type_, str):
        raise invalid(f"Variable '{name}': type must be a string")
    kind = type_.lower()
    if kind == "null" or value is None:
        if kind not in (
            "null",
            "string",
            "boolean",
            "integer",
            "long",
            "short",
            "double",
            "date",
            "json",
            "object",
        ):
            raise invalid(f"Unsupported value type '{type_}' for variable '{name}'")
        return None
    if kind == "string":
        if not isinstance(value, str):
            raise _type_error(name, value, type_)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _type_error(name, value, type_)
    if kind in INT_RANGE:
        number: Any = value
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value.strip()):
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int):
            raise _type_error(name, value, type_)
        limit = INT_RANGE[kind]
        if not -limit <= number < limit:
            raise _type_error(name, value, type_)
        return number
    if kind == "double":
        if isinstance(value, bool):
            raise _type_error(name, value, type_)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise _type_error(name, value, type_) from None
        if not math.isfinite(number):  # NaN and ±Infinity have no JSON form: they would be lost
            raise _type_error(name, value, type_)
        return number
    if kind == "date":
        if not isinstance(value, str):
            raise _type_error(name, value, type_)
        return (
            parse_date(value, f"variable '{name}'").astimezone(STOCKHOLM).isoformat(timespec="milliseconds")
        )
    if kind in ("json", "object"):
        info = spec.get("valueInfo") or {}
        if not isinstance(info, dict):
            raise invalid(f"Variable '{name}': valueInfo must be an object")
        fmt = (
            info.get("serializationDataFormat", "application/json")
            if kind == "object"
            else "application/json"
        )
        if fmt != "application/json":
            raise invalid(f"Variable '{name}': only application/json serialization is supported, not '{fmt}'")
        type_name = info.get("objectTypeName")
        if (
            kind == "object"
            and type_name is not None
            and (not isinstance(type_name, str) or len(type_name) > 255)
        ):
            raise invalid(f"Variable '{name}': objectTypeName must be a class name (at most 255 characters)")
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise _type_error(name, value, type_) from None
        if too_deep(value):
            raise invalid(f"Variable '{name}': JSON nested deeper than {MAX_DEPTH} levels cannot be kept")
        return value
    raise invalid(f"Unsupported value type '{type_}' for variable '{name}'")


# Types a stored JSON value cannot tell apart from another (``declared_types``): the declared one is kept
# (Delaktig.declare_types, the case's ``_types``) and answered back, as Camunda answers a variable with the
# type it was written with. An Object is kept as "Object:" + its objectTypeName.
KEPT_TYPES = {"long": "Long", "short": "Short", "date": "Date", "json": "Json"}
OBJECT = "Object:"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def declared_types(spec: Any) -> dict[str, str | None]:
    """``{name: type | None}`` for the typed variables of ``spec`` (already checked by ``parse_variables``):
    Long, Short, Date, Json, "Object:<objectTypeName>", and String for text that has a stored Date's form
    (else it would read back as a Date); None forgets a type declared earlier (the variable was written
    anew as something its value tells)."""
    if not isinstance(spec, dict):
        return {}
    out: dict[str, str | None] = {}
    for name, item in spec.items():
        kind = item.get("type") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        kind = kind.lower() if isinstance(kind, str) else None
        declared = None
        if value is None or kind == "null":
            declared = None
        elif kind in KEPT_TYPES:
            declared = KEPT_TYPES[kind]
        elif kind == "object":
            info = item.get("valueInfo")
            type_name = info.get("objectTypeName") if isinstance(info, dict) else None
            declared = OBJECT + (type_name if isinstance(type_name, str) else "")
        elif kind in (None, "string") and isinstance(value, str) and _STORED_DATE.match(value):
            declared = "String"
        out[str(name)] = declared
    return out


def parse_variables(spec: Any, what: str = "variables") -> dict[str, Any]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise invalid(f"'{what}' must be a JSON object of typed variables")
    return {str(name): parse_value(str(name), item) for name, item in spec.items()}


# --- out --------------------------------------------------------------------------------------------------
def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def typed(value: Any, declared: str | None = None) -> dict[str, Any]:
    """A variable as Camunda writes it; ``declared``: the type it was written with, if kept
    (``declared_types``). A declaration the value no longer fits (a script wrote the variable anew) is
    passed over: the value's own type answers."""
    if isinstance(declared, str) and declared.startswith(OBJECT):
        # Answered serialized, as Camunda does with deserializeValues=false (Delaktig keeps no Java class).
        info = {
            "objectTypeName": declared[len(OBJECT) :] or None,
            "serializationDataFormat": "application/json",
        }
        return {"type": "Object", "value": _json_text(value), "valueInfo": info}
    if declared == "Json":
        return {"type": "Json", "value": _json_text(value), "valueInfo": {}}
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        kind = "Integer" if -(2**31) <= value < 2**31 else "Long"
        if (
            declared in ("Long", "Short")
            and -INT_RANGE[declared.lower()] <= value < INT_RANGE[declared.lower()]
        ):
            kind = declared
        return {"type": kind, "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        if declared == "Date" and _DATE_ONLY.match(value):
            # A date form field keeps the date only (engine.forms): the Date is its midnight, Swedish time.
            try:
                midnight = datetime.combine(date.fromisoformat(value), time(0), STOCKHOLM)
                return {"type": "Date", "value": fmt_offset_date(midnight), "valueInfo": {}}
            except ValueError:
                pass
        if declared != "String" and _STORED_DATE.match(value):
            # As parse_value keeps a Date (also one written before types were declared): a Date again.
            try:
                return {
                    "type": "Date",
                    "value": fmt_offset_date(datetime.fromisoformat(value)),
                    "valueInfo": {},
                }
            except ValueError:
                pass  # no real date (a 13th month): the text it is
        return {"type": "String", "value": value, "valueInfo": {}}
    return {"type": "Json", "value": _json_text(value), "valueInfo": {}}


def typed_map(
    data: dict[str, Any] | None, names: list[str] | None = None, types: dict[str, str] | None = None
) -> dict[str, Any]:
    """The variables in ``data`` (a case's data, or CaseInfo.variables with ``types``), typed."""
    data = data or {}
    types = types if types is not None else (data.get(TYPES_KEY) or {})
    # Names starting with "_" are Delaktig's own entries (``_types``), never a variable, asked for or not.
    keys = [k for k in (data if names is None else names) if k in data and not str(k).startswith("_")]
    return {k: typed(data[k], types.get(k)) for k in keys}


FORM_TYPES = {"string": "String", "long": "Long", "boolean": "Boolean", "date": "Date", "enum": "String"}


def form_typed(field: dict[str, Any], value: Any) -> dict[str, Any]:
    """A form field's variable, typed by the field as Camunda's generated forms do."""
    kind = FORM_TYPES.get(field.get("type") or "string", "String")
    if kind == "Date" and isinstance(value, str) and value:
        try:
            parsed = (
                datetime.fromisoformat(value)
                if "T" in value
                else datetime.combine(date.fromisoformat(value), time(0), STOCKHOLM)
            )
            value = parsed.strftime("%Y-%m-%dT%H:%M:%S.000%z") if parsed.tzinfo else value
        except ValueError:
            pass  # a value the form never wrote: shown as stored
    return {"type": kind, "value": value, "valueInfo": {}}

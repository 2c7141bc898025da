"""Server-side validation of task form data against the task's form definition.

Camunda generated forms (types string, long, boolean, date, enum; constraints required, minlength,
maxlength, min, max, readonly) or a JSON Schema in the task property ``formSchema``. SpiffWorkflow's own
``has_validation('required')`` is False for ``<camunda:constraint name="required"/>`` (no config), so we
never rely on it. A required boolean must be *true* (a checklist item that is done, a consent that is
given): that is what a required checkbox means on a form.

Errors carry the field id and a Swedish message; values are normalised (int, bool, ISO date string).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import jsonschema

from engine.errors import Problem

REQUIRED = "Fältet är obligatoriskt."
# A text field without its own maxlength still has a limit, as the staff pages' other texts: megabytes in
# one value would make the case page (data and timeline) unusable for everyone who reads it.
MAX_TEXT = 10_000
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
UNKNOWN_FIELD = "Okänt fält för den här uppgiften."


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "ja", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "off", "0", "nej", "no", ""):
        return False
    raise ValueError


def _as_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        return (datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)).isoformat()
    raise ValueError


def _check_field(field: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    kind = field.get("type") or "string"
    c = field.get("constraints") or {}
    required = "required" in c
    if kind == "boolean":
        if value is None:
            value = False
        try:
            value = _as_bool(value)
        except ValueError:
            return None, "Måste vara ja eller nej."
        if required and value is not True:
            return value, "Måste vara ifyllt (kryssat) innan uppgiften kan slutföras."
        return value, None
    if _is_empty(value):
        return None, (REQUIRED if required else None)
    if kind == "long":
        try:
            value = _as_int(value)
        except ValueError:
            return None, "Måste vara ett heltal."
        if c.get("min") is not None and value < int(c["min"]):
            return value, f"Måste vara minst {c['min']}."
        if c.get("max") is not None and value > int(c["max"]):
            return value, f"Får vara högst {c['max']}."
        # A long is 64 bits, as in Camunda and in both databases: said beside the field, not at storing.
        if not LONG_MIN <= value <= LONG_MAX:
            return value, _long_bound_message(value)
        return value, None
    if kind == "date":
        try:
            return _as_date(value), None
        except (ValueError, TypeError):
            return None, "Ogiltigt datum; skriv det som ÅÅÅÅ-MM-DD."
    if kind == "enum":
        allowed = [o["id"] for o in field.get("options") or []]
        if value not in allowed:
            return None, "Ogiltigt val; välj ett av alternativen."
        return value, None
    # string and any custom type: text
    if not isinstance(value, str):
        return None, "Måste vara text."
    if c.get("minlength") is not None and len(value) < int(c["minlength"]):
        return value, f"Måste vara minst {c['minlength']} tecken."
    longest = int(c["maxlength"]) if c.get("maxlength") is not None else MAX_TEXT
    if len(value) > longest:
        return value, f"Får vara högst {longest} tecken."
    return value, None


def validate_form(
    form: dict[str, Any], data: dict[str, Any], allow_extra: bool = False
) -> tuple[dict, list[Problem]]:
    """Return (clean values to set on the task, problems). Nothing is changed when problems are found."""
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    if not isinstance(data, dict):
        return {}, [Problem("", "Formulärdata måste vara ett objekt.")]
    schema = form.get("schema")
    if schema:
        problems = _schema_problems(schema, data)
        return (dict(data) if not problems else {}), problems
    fields = form.get("fields") or []
    known = {f["id"] for f in fields}
    for field in fields:
        constraints = field.get("constraints") or {}
        if "readonly" in constraints:
            # As Camunda's readonly validator: a value may not be submitted (it was silently dropped).
            if data.get(field["id"]) is not None:
                problems.append(Problem(field["id"], "Fältet är skrivskyddat och kan inte ändras."))
            continue
        if field.get("type") == "boolean" and field["id"] not in data and "required" not in constraints:
            continue  # not submitted: its default, else false (``unsubmitted``)
        value, message = _check_field(field, data.get(field["id"]))
        if message:
            problems.append(Problem(field["id"], message))
        elif value is not None or field["id"] in data:
            clean[field["id"]] = value
    for key in data:
        if key in known:
            continue
        if fields and not allow_extra:
            problems.append(Problem(key, UNKNOWN_FIELD))
        elif not str(key).isidentifier() or str(key).startswith("_"):
            problems.append(Problem(str(key), "Ogiltigt variabelnamn."))
        else:
            clean[key] = data[key]
    return (clean if not problems else {}), problems


def _schema_problems(schema: dict[str, Any], data: dict[str, Any]) -> list[Problem]:
    """A JSON Schema form's errors in the generated forms' Swedish (jsonschema words them in English), each
    at its field: every missing required field at its own, an integer beyond 64 bits as a bound."""
    problems: list[Problem] = []
    validator = jsonschema.Draft202012Validator(schema)
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        where = ".".join(str(p) for p in err.path)
        if err.validator == "required":
            held = err.instance if isinstance(err.instance, dict) else {}
            missing = [name for name in err.validator_value if name not in held]
            problems += [Problem(f"{where}.{name}" if where else str(name), REQUIRED) for name in missing]
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed, patterns = err.schema.get("properties") or {}, err.schema.get("patternProperties") or {}
            extra = [
                k for k in err.instance if k not in allowed and not any(re.search(p, k) for p in patterns)
            ]
            problems += [Problem(f"{where}.{key}" if where else str(key), UNKNOWN_FIELD) for key in extra]
        else:
            problems.append(Problem(where, _schema_message(err)))
    marked = {p.where for p in problems}  # (a field's own maximum, if it has one, is said already)
    for key, value in data.items():
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole and str(key) not in marked and not LONG_MIN <= value <= LONG_MAX:
            problems.append(Problem(str(key), _long_bound_message(value)))
    unique: dict[tuple[str, str], Problem] = {(p.where, p.message): p for p in problems}
    return list(unique.values())


def _long_bound_message(value: int) -> str:
    return f"Får vara högst {LONG_MAX}." if value > 0 else f"Måste vara minst {LONG_MIN}."


_SCHEMA_TYPES = {
    "integer": "Måste vara ett heltal.",
    "string": "Måste vara text.",
    "boolean": "Måste vara ja eller nej.",
    "number": "Måste vara ett tal.",
}


def _schema_message(err: jsonschema.ValidationError) -> str:
    kind, bound = err.validator, err.validator_value
    if kind == "type":
        wanted = [bound] if isinstance(bound, str) else [t for t in bound if t != "null"]
        return _SCHEMA_TYPES.get(wanted[0] if wanted else "", "Har inte rätt form.")
    messages = {
        "minLength": f"Måste vara minst {bound} tecken.",
        "maxLength": f"Får vara högst {bound} tecken.",
        "minimum": f"Måste vara minst {bound}.",
        "maximum": f"Får vara högst {bound}.",
        "enum": "Ogiltigt val; välj ett av alternativen.",
        "const": "Ogiltigt val; välj ett av alternativen.",
    }
    return messages.get(kind, "Har inte rätt form.")


def without_required(form: dict[str, Any]) -> dict[str, Any]:
    """``form`` with no field required: what a delegate's resolve is checked against (types, limits,
    choices, read-only and unknown fields as for a completion), since the owner, not the delegate,
    completes the task — and the completion then asks for every required field."""
    out = dict(form)
    if form.get("fields"):
        out["fields"] = [
            {**f, "constraints": {k: v for k, v in (f.get("constraints") or {}).items() if k != "required"}}
            for f in form["fields"]
        ]
    if isinstance(form.get("schema"), dict) and "required" in form["schema"]:
        out["schema"] = {k: v for k, v in form["schema"].items() if k != "required"}
    return out


DEFAULT_EXPRESSION = re.compile(r"^\s*[$#]\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\s*$")


def field_default(field: dict[str, Any], data: dict[str, Any]) -> Any:
    """A field's ``defaultValue`` as Camunda evaluates it: the text as written, or for ``${name}`` (or
    ``${name.key}``) the case's value of that variable — None when the case has none. Other expressions
    are refused at deploy (``engine.bpmn.compile``)."""
    default = field.get("default")
    m = DEFAULT_EXPRESSION.match(default) if isinstance(default, str) else None
    if m is None:
        return default
    found: Any = data
    for key in m.group(1).split("."):
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return found


def unsubmitted(
    form: dict[str, Any], submitted: dict[str, Any], case_data: dict[str, Any], keep_held: bool = False
) -> dict[str, Any]:
    """The values of declared fields the submit left out, as Camunda's FormFieldHandler sets them: the
    field's ``defaultValue`` (in the field's type; ``${variable}`` evaluated) even where the case already
    holds a value, as a form submit does in Camunda; with no default, None (false for a checkbox) where the
    case holds nothing yet — so conditions can test every field. A read-only field is set only from its
    default. ``keep_held``: a plain completion (REST ``/complete``, which in Camunda runs no form handler)
    leaves every value the case holds alone."""
    out: dict[str, Any] = {}
    for field in form.get("fields") or []:
        fid = field["id"]
        if fid in submitted or (keep_held and fid in case_data):
            continue
        default = field_default(field, case_data)
        if default is not None:
            value, message = _check_field(field, default)
            if message is None and value is not None:
                out[fid] = value
                continue
        if fid in case_data:
            continue
        if "readonly" not in (field.get("constraints") or {}):
            out[fid] = False if field.get("type") == "boolean" else None  # an unticked box
    return out


def required_missing(form: dict[str, Any]) -> list[str]:
    return [f["id"] for f in form.get("fields") or [] if "required" in (f.get("constraints") or {})]

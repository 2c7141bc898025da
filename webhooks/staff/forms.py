"""Turn a task's form definition (Camunda generated form, or a JSON Schema) into fields to render, and a
submitted HTML form back into the data the engine validates.

Field types used by the routines: string (``multiline`` → textarea), long, boolean, date, enum; constraints
required, minlength, maxlength, min, max, readonly. The engine validates (``engine.forms``); the browser
gets the same constraints as hints only (the form has ``novalidate``, so every message is the server's,
next to its field; ``webhooks.engine_messages`` shows the engine's Swedish text in the page's language).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.forms import field_default


@dataclass
class FieldView:
    id: str
    label: str
    type: str
    widget: str  # text | textarea | number | date | checkbox | select
    value: Any = None
    required: bool = False
    readonly: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def checked(self) -> bool:
        return self.value is True or str(self.value).lower() in ("true", "on", "1")

    @property
    def text(self) -> str:
        return "" if self.value is None else str(self.value)


def _schema_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON Schema properties as generated-form fields (the same renderer handles both)."""
    required = set(schema.get("required") or [])
    out = []
    for key, prop in (schema.get("properties") or {}).items():
        kind = {"integer": "long", "boolean": "boolean"}.get(prop.get("type"), "string")
        if prop.get("format") == "date":
            kind = "date"
        options = [{"id": v, "name": str(v)} for v in prop.get("enum") or []]
        constraints: dict[str, Any] = {"required": None} if key in required else {}
        for src, dst in (
            ("minLength", "minlength"),
            ("maxLength", "maxlength"),
            ("minimum", "min"),
            ("maximum", "max"),
        ):
            if src in prop:
                constraints[dst] = prop[src]
        out.append(
            {
                "id": key,
                "type": "enum" if options else kind,
                "label": prop.get("title") or key,
                "constraints": constraints,
                "options": options,
                "properties": {"multiline": "true"} if prop.get("maxLength", 0) > 200 else {},
            }
        )
    return out


def definition_fields(form: dict[str, Any]) -> list[dict[str, Any]]:
    if form.get("fields"):
        return list(form["fields"])
    if form.get("schema"):
        return _schema_fields(form["schema"])
    return []


def build_fields(
    form: dict[str, Any], values: dict[str, Any], problems: dict[str, str] | None = None
) -> list[FieldView]:
    problems = problems or {}
    out = []
    for f in definition_fields(form):
        kind = f.get("type") or "string"
        c = f.get("constraints") or {}
        props = f.get("properties") or {}
        widget = {"long": "number", "boolean": "checkbox", "date": "date", "enum": "select"}.get(kind, "text")
        if widget == "text" and str(props.get("multiline", "")).lower() == "true":
            widget = "textarea"
        attrs: dict[str, str] = {}
        # A whole number is typed into a text box (``inputmode="numeric"``), as Camunda's generated forms
        # do: Chromium's number box drops what it cannot parse (``1,5`` is sent as 15, ``1e`` as nothing),
        # so a typo would be saved silently. Its bounds are the server's to check; a text box has none.
        bounds = (
            ("minlength", "maxlength") if widget == "number" else ("minlength", "maxlength", "min", "max")
        )
        for name in bounds:
            if c.get(name) is not None:
                attrs[name] = str(c[name])
        value = values[f["id"]] if f["id"] in values else field_default(f, values)
        out.append(
            FieldView(
                id=f["id"],
                label=f.get("label") or f["id"],
                type=kind,
                widget=widget,
                value=value,
                required="required" in c,
                readonly="readonly" in c,
                options=[(str(o["id"]), o.get("name") or str(o["id"])) for o in f.get("options") or []],
                error=problems.get(f["id"]),
                attrs=attrs,
            )
        )
    return out


def read_submission(form: dict[str, Any], posted) -> dict[str, Any]:
    """The engine's input: every editable field once; an unticked checkbox is an explicit false."""
    if not form.get("fields") and form.get("schema"):
        return _read_schema_submission(form, posted)
    data: dict[str, Any] = {}
    for f in definition_fields(form):
        if "readonly" in (f.get("constraints") or {}):
            continue
        if (f.get("type") or "string") == "boolean":
            data[f["id"]] = "true" if posted.get(f["id"]) in ("true", "on", "1") else "false"
        else:
            data[f["id"]] = posted.get(f["id"], "")
    return data


def _read_schema_submission(form: dict[str, Any], posted) -> dict[str, Any]:
    """JSON Schema validates types strictly: send numbers and booleans as such, leave out empty fields."""
    data: dict[str, Any] = {}
    for f in definition_fields(form):
        raw = posted.get(f["id"], "")
        if f["type"] == "boolean":
            data[f["id"]] = raw in ("true", "on", "1")
        elif raw == "":
            continue
        elif f["type"] == "long":
            data[f["id"]] = _whole_number(raw)
        else:
            data[f["id"]] = raw
    return data


def _whole_number(raw: str) -> int | str:
    """A typed whole number as an int, else the text as typed, for the schema to refuse beside its field:
    ``isdigit`` also holds for "²" and for more digits than ``int`` converts, which ``int`` refuses."""
    try:
        return int(raw.strip()) if raw.strip().lstrip("-").isdigit() else raw
    except ValueError:
        return raw

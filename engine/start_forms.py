"""A routine's start form: the ``camunda:formKey`` and generated form fields (``camunda:formData``) of its
none start event, as Camunda 7's ``GET /process-definition/{id}/startForm`` and ``…/form-variables`` show
them. Read from the deployed XML (the compiled spec keeps no start-event form) once per definition:
definitions never change.

Who may read it is who may start the routine: the rule of ``Delaktig.start_case`` and the staff pages
(``inbox.Outline.allowed_starters``).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session

from engine import inbox
from engine.bpmn.parser import read_form
from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS, parse_bpmn_xml
from engine.errors import Forbidden
from engine.forms import _check_field, field_default
from engine.models import ProcessDefinition

_NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
_forms: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def _parse(definition: ProcessDefinition) -> dict[str, Any]:
    root = parse_bpmn_xml(definition.resource.content, definition.resource.name)
    process = next(
        (p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == definition.key),
        None,
    )
    if process is None:
        return {"key": None, "fields": []}
    for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
        # The none start event (the one a person starts by hand): no event definition of any kind.
        if any(isinstance(ch.tag, str) and ch.tag.endswith("EventDefinition") for ch in start):
            continue
        form = read_form(start, lambda path, node=start: node.xpath(path, namespaces=_NS))
        return {"key": form["key"], "fields": form["fields"]}
    return {"key": None, "fields": []}


def start_form(definition: ProcessDefinition) -> dict[str, Any]:
    """``{"key": formKey or None, "fields": [form field, …]}`` (fields as ``engine.forms`` reads them)."""
    hit = _forms.get(definition.id)
    if hit is None:
        hit = _parse(definition)
        with _lock:
            _forms[definition.id] = hit
    return hit


def default_value(field: dict[str, Any]) -> Any:
    """A start form field's value before the start: its ``defaultValue`` in the field's type (``"3"`` of a
    long field is 3), as Camunda's FormFieldHandler converts it; a ``${variable}`` default is None, for
    nothing exists yet (Camunda evaluates it against an empty scope)."""
    default = field_default(field, {})
    if default is None:
        return None
    value, problem = _check_field(field, default)
    return default if problem is not None else value


def check_starter(s: Session, definition: ProcessDefinition, roles: set[str]) -> None:
    """Forbidden unless one of ``roles`` may start the routine (``Delaktig._check_starter``'s rule)."""
    if not roles & inbox.outline(s, definition.id).allowed_starters(definition.meta):
        raise Forbidden(f"Du saknar behörighet att starta {definition.name or definition.key}.")

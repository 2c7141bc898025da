"""Start forms: ``GET /process-definition/{id|key/{key}}/startForm`` (the none start event's
``camunda:formKey``) and ``…/form-variables`` (its generated form fields as typed variables), what Camunda
Tasklist reads before it starts a process. Shown to whoever may start the routine (its starter roles, as
``…/start`` checks); others get Camunda's 403 (CREATE_INSTANCE)."""

from __future__ import annotations

from flask import request

from engine import start_forms
from engine.errors import DelaktigError
from engine.models import ProcessDefinition
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import bp, ok
from webhooks.rest.definition import _by_id, _by_key
from webhooks.rest.errors import engine_error
from webhooks.rest.params import Params
from webhooks.rest.variables import form_typed


def _form(find, ident: str) -> dict:
    """The definition's start form, for a user who may start it."""
    user = auth.current()
    with get_engine().session() as s:
        definition: ProcessDefinition = find(s, ident)
        try:
            start_forms.check_starter(s, definition, set(user.roles))
        except DelaktigError as err:
            raise engine_error(
                err,
                f"Cannot get start form data for process definition {ident}",
                permission="CREATE_INSTANCE",
                resource="ProcessDefinition",
                resource_id=definition.key,
            ) from None
        return start_forms.start_form(definition)


def _key(find, ident: str):
    form = _form(find, ident)
    return ok({"key": form["key"], "contextPath": None, "camundaFormRef": None})


def _variables(find, ident: str):
    """One typed variable per form field, with the field's default value. Nothing exists before the
    start, so a ``${variable}`` default is null (Camunda evaluates it against an empty scope); a start
    event without form fields has no variables."""
    p = Params(request.args)
    names = p.list("variableNames")
    p.bool("deserializeValues")  # values are JSON either way
    p.refuse_unused()
    form = _form(find, ident)
    return ok(
        {
            field["id"]: form_typed(field, start_forms.default_value(field))
            for field in form["fields"]
            if names is None or field["id"] in names
        }
    )


@bp.get("/process-definition/<definition_id>/startForm")
def start_form_by_id(definition_id: str):
    return _key(_by_id, definition_id)


@bp.get("/process-definition/key/<key>/startForm")
def start_form_by_key(key: str):
    return _key(_by_key, key)


@bp.get("/process-definition/<definition_id>/form-variables")
def start_form_variables_by_id(definition_id: str):
    return _variables(_by_id, definition_id)


@bp.get("/process-definition/key/<key>/form-variables")
def start_form_variables_by_key(key: str):
    return _variables(_by_key, key)

"""``camunda:formKey``: a form another system shows. Camunda 7 clients with their own task forms deploy
diagrams that name them, read the key from the task and complete the task with the form's variables; the
staff pages say the form is elsewhere. Camunda Forms (``camunda:formRef``) are refused at deploy."""

from __future__ import annotations

import io

import pytest

from engine.errors import ValidationFailed
from tests.engine.test_modeler_constructs import diagram, flow, task
from tests.rest.conftest import basic

FORM_KEY = diagram(
    '<bpmn:startEvent id="S" camunda:formKey="app:ansokan" />'
    + task("Granska", attrs='camunda:formKey="embedded:app:forms/granska.html"')
    + '<bpmn:exclusiveGateway id="G" default="F4" />'
    + task("Besluta")
    + '<bpmn:endEvent id="E" /><bpmn:endEvent id="E2" />'
    + flow("F1", "S", "Granska")
    + flow("F2", "Granska", "G")
    + '<bpmn:sequenceFlow id="F3" sourceRef="G" targetRef="E2"><bpmn:conditionExpression '
    'xsi:type="bpmn:tFormalExpression">${avslag == true}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    + flow("F4", "G", "Besluta")
    + flow("F5", "Besluta", "E"),
    pid="med_formular",
)


def test_a_form_key_reaches_camunda_clients_and_the_task_completes_with_its_variables(client, engine):
    r = client.post(
        "/engine-rest/deployment/create",
        data={"deployment-name": "formular", "formular.bpmn": (io.BytesIO(FORM_KEY), "formular.bpmn")},
        headers=basic("olle"),
    )
    assert r.status_code == 200, r.json
    r = client.post(
        "/engine-rest/process-definition/key/med_formular/start",
        json={"businessKey": "F-1", "variables": {"arende": {"value": "Parkbänkar", "type": "String"}}},
        headers=basic("hanna"),
    )
    assert r.status_code == 200, r.json
    case = r.json["id"]
    [t] = client.get(f"/engine-rest/task?processInstanceId={case}", headers=basic("hanna")).json
    assert t["formKey"] == "embedded:app:forms/granska.html"
    assert client.get(f"/engine-rest/task/{t['id']}", headers=basic("hanna")).json["formKey"] == t["formKey"]
    form = client.get(f"/engine-rest/task/{t['id']}/form", headers=basic("hanna")).json
    assert form == {"key": "embedded:app:forms/granska.html", "contextPath": None, "camundaFormRef": None}
    # No generated fields: the form variables are the case's variables, as Camunda answers.
    fv = client.get(f"/engine-rest/task/{t['id']}/form-variables", headers=basic("hanna")).json
    assert fv == {"arende": {"type": "String", "value": "Parkbänkar", "valueInfo": {}}}
    r = client.post(
        f"/engine-rest/task/{t['id']}/complete",
        json={"variables": {"avslag": {"value": False, "type": "Boolean"}}},
        headers=basic("hanna"),
    )
    assert r.status_code == 204, r.json
    [nxt] = client.get(f"/engine-rest/task?processInstanceId={case}", headers=basic("hanna")).json
    assert nxt["taskDefinitionKey"] == "Besluta" and nxt["formKey"] is None
    assert client.get(f"/engine-rest/task/{nxt['id']}/form", headers=basic("hanna")).json["key"] is None


def test_camunda_forms_are_refused_naming_the_task(engine):
    xml = FORM_KEY.replace(
        b'camunda:formKey="embedded:app:forms/granska.html"',
        b'camunda:formRef="granska" camunda:formRefBinding="latest"',
    )
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy(xml, "formular.bpmn", "olle")
    [problem] = refused.value.problems
    assert problem.where == "Granska" and "Camunda Forms" in problem.message
    empty = FORM_KEY.replace(b'camunda:formKey="app:ansokan"', b'camunda:formKey=" "')
    with pytest.raises(ValidationFailed) as refused:
        engine.deploy(empty, "formular.bpmn", "olle")
    assert [p.where for p in refused.value.problems] == ["S"]


def test_a_default_value_expression_is_the_case_s_value_in_form_variables(client, engine):
    xml = diagram(
        '<bpmn:startEvent id="S" />'
        + task(
            "Granska",
            inner='<bpmn:extensionElements><camunda:formData><camunda:formField id="prio" type="string" '
            'defaultValue="${standardprio}" /></camunda:formData></bpmn:extensionElements>',
        )
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Granska")
        + flow("F2", "Granska", "E"),
        pid="standardvarde",
    )
    engine.deploy(xml, "s.bpmn", "olle")
    case = engine.start_case("standardvarde", variables={"standardprio": "hög"}, actor="system")
    [tid] = case.open_tasks
    fv = client.get(f"/engine-rest/task/{tid}/form-variables", headers=basic("hanna")).json
    assert fv["prio"] == {"type": "String", "value": "hög", "valueInfo": {}}


def test_submit_form_sets_a_left_out_field_s_default_and_complete_keeps_the_case_s_value(client, engine):
    """Camunda's form submit runs the FormFieldHandler: a field left out takes its defaultValue even where
    the case holds a value. ``/complete`` runs no form handler there, so the case's value stays."""
    xml = diagram(
        '<bpmn:startEvent id="S" />'
        + task(
            "Granska",
            inner='<bpmn:extensionElements><camunda:formData><camunda:formField id="prio" type="string" '
            'defaultValue="normal" /><camunda:formField id="notis" type="string" /></camunda:formData>'
            "</bpmn:extensionElements>",
        )
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Granska")
        + flow("F2", "Granska", "E"),
        pid="standard_over",
    )
    engine.deploy(xml, "s.bpmn", "olle")
    returned = {}
    for verb in ("submit-form", "complete"):
        case = engine.start_case("standard_over", variables={"prio": "hög"}, actor="system")
        [tid] = case.open_tasks
        r = client.post(
            f"/engine-rest/task/{tid}/{verb}",
            json={"variables": {"notis": {"value": "ok", "type": "String"}}, "withVariablesInReturn": True},
            headers=basic("hanna"),
        )
        assert r.status_code == 200, r.json
        returned[verb] = r.json["prio"]["value"]
    assert returned == {"submit-form": "normal", "complete": "hög"}

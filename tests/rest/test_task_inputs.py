"""A user task's input parameters (``camunda:inputOutput``) are variables the task sees: Camunda 7's
``GET /task/{id}/variables`` and ``/form-variables`` (a field's ``${…}`` default) include them; the case's
variables do not (tests/engine/test_input_output.py)."""

from __future__ import annotations

from tests.engine.test_input_output import START, _user_task_diagram
from tests.rest.conftest import basic


def test_a_task_s_inputs_are_among_its_variables_and_its_form_defaults(client, engine):
    engine.deploy(_user_task_diagram(), "g.bpmn", "olle")
    case = engine.start_case("granskning", variables=START, actor="system")
    [tid] = case.open_tasks
    fv = client.get(f"/engine-rest/task/{tid}/form-variables", headers=basic("hanna")).json
    assert fv["till"] == {"type": "String", "value": "a@example.se", "valueInfo": {}}
    tv = client.get(f"/engine-rest/task/{tid}/variables", headers=basic("hanna")).json
    assert tv["mottagare"]["value"] == "a@example.se"
    assert tv["arendetyp"]["value"] == "medborgarförslag"  # the task's own, over the case's "okänd"
    pv = client.get(f"/engine-rest/process-instance/{case.id}/variables", headers=basic("hanna")).json
    assert pv["arendetyp"]["value"] == "okänd" and "mottagare" not in pv

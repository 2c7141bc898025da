"""The staff page's task form shows a field's ``${…}`` default from the task's input parameters
(``camunda:inputOutput``), which the case's variables lack (tests/engine/test_input_output.py)."""

from __future__ import annotations

from tests.engine.test_input_output import START, _user_task_diagram
from tests.web.conftest import html


def test_the_task_form_s_default_is_the_task_s_input(engine, staff):
    engine.deploy(_user_task_diagram(), "g.bpmn", "test")
    case = engine.start_case("granskning", variables=START, actor="system")
    [tid] = case.open_tasks
    page = html(staff("anna").get(f"/uppgifter/{tid}"))
    assert 'value="a@example.se"' in page

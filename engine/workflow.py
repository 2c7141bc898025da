"""SpiffWorkflow at arm's length: build, load, save and step workflows.

Three customisations live here and nowhere else: the parser (``engine.bpmn.parser``), the script engine
(``engine.sandbox``, re-attached on *every* load because SpiffWorkflow does not serialize it) and the
serializer (the case blob holds no spec: the spec comes from the definition's cache, which halves the
load cost and keeps blobs small).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_FORMAT
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG as CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine import clock
from engine.bpmn.parser import DelaktigMessageEventDefinition, current_effects
from engine.errors import ProcessError
from engine.sandbox import make_script_engine

STATE_FORMAT = f"delaktig-1/spiff-{SPIFF_FORMAT}"


_timer_now: contextvars.ContextVar[_dt.datetime | None] = contextvars.ContextVar(
    "delaktig_timer_now", default=None
)


@contextlib.contextmanager
def timer_time(moment: _dt.datetime):
    """Let SpiffWorkflow's timers see ``moment`` as now (firing overdue timers one due instant at a time)
    while everything else (audit, task creation) keeps the real clock."""
    token = _timer_now.set(moment)
    try:
        yield
    finally:
        _timer_now.reset(token)


class _ClockDatetime(_dt.datetime):
    """SpiffWorkflow's timer module reads ``datetime.now(timezone.utc)`` with no clock parameter; pointing
    that module's name at this subclass makes timers fire on the engine clock (tests move it)."""

    @classmethod
    def now(cls, tz=None):  # noqa: D102
        moment = _timer_now.get() or clock.now()
        return moment if tz is None or tz is _dt.UTC else moment.astimezone(tz)


_spiff_timer.datetime = _ClockDatetime


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Like SpiffWorkflow's converter, minus the spec (75 % of a blob); specs are passed in on restore."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _build_serializer() -> BpmnWorkflowSerializer:
    config = dict(CAMUNDA_CONFIG)  # a copy: never edit the library's global config in place
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    config[DelaktigMessageEventDefinition] = MessageEventDefinitionConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


SERIALIZER = _build_serializer()


def new_workflow(spec, subprocess_specs, variables: dict[str, Any] | None = None) -> BpmnWorkflow:
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=make_script_engine())
    # Initial variables go on the root task: wf.set_data() is invisible to tasks (ENGINE-NOTES).
    if variables:
        wf.task_tree.data.update(variables)
    return wf


def dump_state(wf: BpmnWorkflow) -> bytes:
    return orjson.dumps(SERIALIZER.to_dict(wf))


def load_state(blob: bytes, spec, subprocess_specs) -> BpmnWorkflow:
    dct = orjson.loads(blob)
    wf = SERIALIZER.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
    wf.script_engine = make_script_engine()  # not serialized: without this the unrestricted default is back
    return wf


def run_engine(wf: BpmnWorkflow, action=None) -> list[dict[str, Any]]:
    """Run ``action`` (if any) then step the engine; returns the effects (mails) recorded on the way."""
    effects: list[dict[str, Any]] = []
    token = current_effects.set(effects)
    try:
        if action is not None:
            action()
        wf.refresh_timers()
        wf.do_engine_steps()
    except SpiffWorkflowException as err:
        task = getattr(err, "task", None)
        where = (
            getattr(getattr(task, "task_spec", None), "bpmn_id", None) or getattr(err, "task_id", None) or "?"
        )
        detail = getattr(err, "error_type", None)
        message = str(getattr(err, "error_msg", None) or err).strip()
        raise ProcessError(where, f"{message}" + (f" ({detail})" if detail else "")) from err
    finally:
        current_effects.reset(token)
    return effects


def json_safe(value: Any) -> Any:
    """Variables as JSON (dates as ISO strings) for the case's queryable ``data`` column."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))

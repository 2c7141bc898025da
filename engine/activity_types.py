"""Which BPMN element an event of a case happened at, named as Camunda 7's history names activity types
(``startEvent``, ``boundaryTimer``, ``intermediateMessageCatch``, ``noneEndEvent`` …), so the audit rows
answer ``/history/activity-instance`` with the diagram's own element ids and Camunda's types."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    MessageEventDefinition,
    MultipleEventDefinition,
    SignalEventDefinition,
    TerminateEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import (
    BoundaryEventMixin,
    EndEventMixin,
    EventBasedGatewayMixin,
    IntermediateCatchEventMixin,
    ReceiveTaskMixin,
    StartEventMixin,
)
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.event_subprocesses import is_synthetic

# (Camunda's ActivityTypes) per kind of event, for start, boundary, intermediate catch and end events.
_START = {MessageEventDefinition: "messageStartEvent", TimerEventDefinition: "startTimerEvent",
          SignalEventDefinition: "signalStartEvent"}  # fmt: skip
_BOUNDARY = {MessageEventDefinition: "boundaryMessage", TimerEventDefinition: "boundaryTimer",
             SignalEventDefinition: "boundarySignal", ErrorEventDefinition: "boundaryError",
             EscalationEventDefinition: "boundaryEscalation"}  # fmt: skip
# An event subprocess's start event runs as a boundary event on a synthetic subprocess
# (engine.bpmn.event_subprocesses); Camunda's history names it a start event.
_SUBPROCESS_START = {**_START, ErrorEventDefinition: "errorStartEvent",
                     EscalationEventDefinition: "escalationStartEvent"}  # fmt: skip
_CATCH = {MessageEventDefinition: "intermediateMessageCatch", TimerEventDefinition: "intermediateTimer",
          SignalEventDefinition: "intermediateSignalCatch"}  # fmt: skip
_END = {TerminateEventDefinition: "terminateEndEvent", MessageEventDefinition: "messageEndEvent",
        ErrorEventDefinition: "errorEndEvent", EscalationEventDefinition: "escalationEndEvent",
        SignalEventDefinition: "signalEndEvent"}  # fmt: skip


def _by_definition(table: dict, definition: Any, default: str | None) -> str | None:
    for cls, name in table.items():
        if isinstance(definition, cls):
            return name
    return default


def activity_type(spec: Any, definition: Any = None) -> str | None:
    """Camunda's activity type of an event's task spec (None for what is not an event here).
    ``definition``: the event it caught, when SpiffWorkflow keeps it elsewhere (``_behind_gateway``)."""
    definition = definition or getattr(spec, "event_definition", None)
    if isinstance(spec, StartEventMixin):
        return _by_definition(_START, definition, "startEvent")
    if isinstance(spec, BoundaryEventMixin):
        if any(is_synthetic(split.name.removesuffix(".BoundaryEventSplit")) for split in spec.inputs):
            return _by_definition(_SUBPROCESS_START, definition, None)
        return _by_definition(_BOUNDARY, definition, None)
    if isinstance(spec, ReceiveTaskMixin):
        return "receiveTask"
    if isinstance(spec, IntermediateCatchEventMixin):
        return _by_definition(_CATCH, definition, None)
    if isinstance(spec, EndEventMixin):
        return _by_definition(_END, definition, "noneEndEvent")
    return None


def event(spec: Any, definition: Any = None) -> tuple[str | None, dict[str, str | None]]:
    """(element id, what an audit row's detail keeps of it: Camunda's activity type and the element's name
    in the diagram) of an event's task spec."""
    return getattr(spec, "bpmn_id", None), {
        "activity_type": activity_type(spec, definition),
        "activity_name": getattr(spec, "bpmn_name", None),
    }


def _gateway_definitions(spec: Any) -> list | None:
    """An event-based gateway's events, in the order of its outputs. SpiffWorkflow moves each catch
    event's definition onto the gateway (one MultipleEventDefinition) and leaves the catch event none;
    Camunda's history names the catch event, so Delaktig maps back."""
    if isinstance(spec, EventBasedGatewayMixin) and isinstance(
        getattr(spec, "event_definition", None), MultipleEventDefinition
    ):
        return list(spec.event_definition.event_definitions)
    return None


def message_event(spec: Any, message: str) -> tuple[str | None, dict[str, str | None]]:
    """``event`` of the element that catches ``message`` for a waiting task spec."""
    definitions = _gateway_definitions(spec)
    if definitions is not None:
        for out, definition in zip(spec.outputs, definitions, strict=False):
            if getattr(definition, "name", None) == message:
                return event(out, definition)
    return event(spec)


def signal_event(spec: Any, signal: str) -> tuple[str | None, dict[str, str | None]]:
    """``event`` of the element that catches ``signal`` for a waiting task spec (an event-based
    gateway's: the catch event behind it)."""
    definitions = _gateway_definitions(spec)
    if definitions is not None:
        for out, definition in zip(spec.outputs, definitions, strict=False):
            if isinstance(definition, SignalEventDefinition) and definition.name == signal:
                return event(out, definition)
    return event(spec)


def fired_event(task: Any) -> tuple[str | None, dict[str, str | None]]:
    """``event`` of a timer that has fired: its own element, or the catch event its gateway went on to."""
    if task is None:
        return event(None)
    spec = task.task_spec
    definitions = _gateway_definitions(spec)
    if definitions is not None:
        taken = {child.task_spec for child in task.children}
        for out, definition in zip(spec.outputs, definitions, strict=False):
            if out in taken and isinstance(definition, TimerEventDefinition):
                return event(out, definition)
    return event(spec)


def none_start_event(spec: Any) -> Any:
    """The top-level process's none start event (the one a manual or scheduled start begins at)."""
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, StartEventMixin) and activity_type(task_spec) == "startEvent":
            return task_spec
    return None


def message_start_event(spec: Any, message_name: str) -> Any:
    """The top-level process's start event for the message ``message_name``, or None."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if (
            isinstance(task_spec, StartEventMixin)
            and isinstance(definition, MessageEventDefinition)
            and definition.name == message_name
        ):
            return task_spec
    return None


def signal_start_event(spec: Any, signal_name: str) -> Any:
    """The top-level process's start event for the signal ``signal_name``, or None."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if (
            isinstance(task_spec, StartEventMixin)
            and isinstance(definition, SignalEventDefinition)
            and definition.name == signal_name
        ):
            return task_spec
    return None


def reached_end_event(wf: Any) -> Any:
    """The end event the top-level process ended at (the last one completed), or None. With event
    subprocesses the process's own end events are inside a synthetic subprocess, and the end event after
    it is not in the diagram (engine.bpmn.event_subprocesses): the one drawn is named."""
    ends = [
        t
        for t in wf.get_tasks(state=TaskState.COMPLETED, spec_class=EndEventMixin)
        if _in_process_scope(t.workflow, wf) and not is_synthetic(t.task_spec.bpmn_id)
    ]
    return max(ends, key=lambda t: t.last_state_change).task_spec if ends else None


def _in_process_scope(workflow: Any, top: Any) -> bool:
    """Whether ``workflow`` is the top-level process or a synthetic subprocess of its own scope."""
    while workflow is not top:
        parent = top.get_task_from_id(workflow.parent_task_id) if workflow.parent_task_id else None
        if parent is None or not is_synthetic(parent.task_spec.bpmn_id):
            return False
        workflow = parent.workflow
    return True

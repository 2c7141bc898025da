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
from dateutil.relativedelta import relativedelta
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_FORMAT
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin
from SpiffWorkflow.bpmn.specs.event_definitions import (
    ErrorEventDefinition,
    MessageEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import StartEventMixin
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG as CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from SpiffWorkflow.workflow import Workflow as _SpiffWorkflow

from engine import activity_types, clock
from engine.bpmn.compile import IMPLIED_SPLIT
from engine.bpmn.parser import (
    DelaktigErrorEventDefinition,
    DelaktigMessageEventDefinition,
    DelaktigSignalEventDefinition,
    current_effects,
)
from engine.errors import DelaktigError, ProcessError
from engine.sandbox import make_script_engine
from engine.scope import StepScope, differs  # noqa: F401  (differs: engine.app, engine.external_tasks)

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
# A date-time without an offset — a ${variable}'s value, say — is Swedish time (docs/modeling.md), not the
# server's: SpiffWorkflow read it in the machine's zone, fixed when it was imported.
SPIFF_LOCALTZ = _spiff_timer.LOCALTZ  # what SpiffWorkflow chose (tests pin it)
_spiff_timer.LOCALTZ = clock.STOCKHOLM


def _calendar_timedelta_from_start(parsed_duration: dict, start: _dt.datetime | None = None) -> _dt.timedelta:
    """A duration's years, months, weeks and days counted on the Swedish calendar, its hours, minutes and
    seconds as elapsed time — as Camunda 7 does in a JVM set to Europe/Stockholm. SpiffWorkflow adds days
    as 24-hour spans in UTC: a "P1D" set at 09:00 fell due at 10:00 or 08:00 across a daylight-saving
    change, twice a year; its months were month lengths added up (31 January + P1M was 3 March)."""
    start = start or _ClockDatetime.now(_dt.UTC)
    parts = dict(parsed_duration)
    calendar = {unit: parts.pop(unit, 0) for unit in ("years", "months", "weeks", "days")}
    if any(value != int(value) for value in calendar.values()):
        return SPIFF_TIMEDELTA_FROM_START(dict(parsed_duration), start)  # fractions: SpiffWorkflow's way
    local = start.astimezone(clock.STOCKHOLM)
    wall = local.replace(tzinfo=None) + relativedelta(**{unit: int(n) for unit, n in calendar.items()})
    end = wall.replace(tzinfo=clock.STOCKHOLM).astimezone(_dt.UTC)
    return (end - start.astimezone(_dt.UTC)) + _dt.timedelta(**parts)


SPIFF_TIMEDELTA_FROM_START = _spiff_timer.TimerEventDefinition.get_timedelta_from_start
_spiff_timer.TimerEventDefinition.get_timedelta_from_start = staticmethod(_calendar_timedelta_from_start)

_timers_held: contextvars.ContextVar[bool] = contextvars.ContextVar("delaktig_timers_held", default=False)


@contextlib.contextmanager
def timers_held():
    """While an action runs (a completion, a message), no timer that was already waiting fires: SpiffWorkflow
    updates waiting timers as a side effect of completing tasks (a parallel join, say), and would fire the
    overdue ones there in the order the diagram declares them. ``fire_due_timers`` fires them right after,
    in due order. Timers the action creates get their due time as usual."""
    token = _timers_held.set(True)
    try:
        yield
    finally:
        _timers_held.reset(token)


def _held(method, when_held):
    def wrapper(self, my_task):
        if _timers_held.get() and my_task._get_internal_data("event_value") is not None:
            return when_held(my_task)
        try:
            return method(self, my_task)
        except (SpiffWorkflowException, DelaktigError):
            raise
        except Exception as err:  # noqa: BLE001 — SpiffWorkflow raises a bare Exception('Invalid duration')
            # A timer's ${variable} holding something that is no date, duration or cycle: SpiffWorkflow
            # raises a bare Python error that names no element (an HTTP 500, a timer worker stopped).
            value = my_task._get_internal_data("event_value")
            if value is None:
                with contextlib.suppress(Exception):
                    value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            raise WorkflowTaskException(
                f"the timer's value {value!r} is not an ISO 8601 date, duration or cycle "
                "(such as 2026-03-01T09:00:00+01:00, P14D or R3/P1D)",
                task=my_task,
            ) from err

    wrapper.__doc__ = method.__doc__
    return wrapper


_spiff_timer.TimeDateEventDefinition.has_fired = _held(
    _spiff_timer.TimeDateEventDefinition.has_fired, lambda task: task._get_internal_data("event_fired", False)
)
_spiff_timer.DurationTimerEventDefinition.has_fired = _held(
    _spiff_timer.DurationTimerEventDefinition.has_fired,
    lambda task: task._get_internal_data("event_fired", False),
)
_spiff_timer.CycleTimerEventDefinition.cycle_complete = _held(
    _spiff_timer.CycleTimerEventDefinition.cycle_complete, lambda task: False
)


def _keeps_cycle_branches(check):
    """SpiffWorkflow ends a non-interrupting cycle timer, when its activity completes, by cancelling its
    boundary task, and a cancelled task drops its children: the branches each firing had started (a
    reminder task, say) vanished, and the case could end with them still open. As in Camunda, the cycle
    stops with its activity and the branches it started run on to their own end."""

    def wrapper(self, my_task):
        finished, cancel = check(self, my_task)
        if finished:
            for task in [t for t in cancel if _cycling_with_branches(t)]:
                task.workflow.top_workflow.event_manager.remove_task(task)
                task._set_state(TaskState.CANCELLED)  # no more firings; its children stay in the tree
                cancel.remove(task)
        return finished, cancel

    wrapper.__doc__ = check.__doc__
    return wrapper


def _cycling_with_branches(task) -> bool:
    spec = task.task_spec
    return (
        isinstance(getattr(spec, "event_definition", None), _spiff_timer.CycleTimerEventDefinition)
        and not getattr(spec, "cancel_activity", True)
        and bool(task.children)
    )


BoundaryEventJoin._check_threshold_structured = _keeps_cycle_branches(
    BoundaryEventJoin._check_threshold_structured
)


def _rearms(run_hook):
    """A non-interrupting message or signal boundary event fires for every message while its activity
    runs, in Camunda. SpiffWorkflow's fires once: a second message found nothing waiting. When one fires
    and its activity is still open, a new waiting boundary task takes its place beside it (the boundary
    join cancels that one when the activity ends, as it cancels every non-interrupting event)."""

    def wrapper(self, my_task):
        result = run_hook(self, my_task)
        if not self.cancel_activity and isinstance(self.event_definition, _REARMING):
            split = my_task.parent
            activity = next((t for t in split.children if not isinstance(t.task_spec, BoundaryEvent)), None)
            if activity is not None and not activity.has_state(TaskState.FINISHED_MASK):
                again = split._add_child(self, TaskState.FUTURE)
                self._predict(again, mask=TaskState.NOT_FINISHED_MASK)  # its branch, as the first one's
                self._update(again)  # waits, and is in the event manager
        return result

    wrapper.__doc__ = run_hook.__doc__
    return wrapper


_REARMING = (MessageEventDefinition, SignalEventDefinition)
BoundaryEvent._run_hook = _rearms(BoundaryEvent._run_hook)


def _ends_subprocesses_of_removed_tasks(remove):
    """A cancelled task drops its unfinished children from the tree without cancelling them: when an
    interrupting boundary event ends a multi-instance embedded subprocess, its instances (each a
    subprocess task) were dropped but their subprocesses stayed, active and without a parent task, and
    every later step of the case failed ("A task with id … was not found"). As in Camunda, a dropped
    instance's subprocess ends with it: its tasks are cancelled (their timers and messages no longer
    wait) and it is deleted."""

    def wrapper(self, task_id):
        top = getattr(self, "top_workflow", None)
        sub = top.subprocesses.get(task_id) if top is not None else None
        if sub is not None:
            top.cancel(sub)
            top.delete_subprocess(self.tasks[task_id])
        remove(self, task_id)

    wrapper.__doc__ = remove.__doc__
    return wrapper


_SpiffWorkflow._remove_task = _ends_subprocesses_of_removed_tasks(_SpiffWorkflow._remove_task)


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
    config[DelaktigErrorEventDefinition] = config[ErrorEventDefinition]
    config[DelaktigSignalEventDefinition] = config[SignalEventDefinition]
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


SERIALIZER = _build_serializer()


def new_workflow(spec, subprocess_specs, variables: dict[str, Any] | None = None) -> BpmnWorkflow:
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=make_script_engine())
    # Initial variables go on the root task: wf.set_data() is invisible to tasks (ENGINE-NOTES).
    if variables:
        wf.task_tree.data.update(variables)
    return wf


def only_start_at(wf: BpmnWorkflow, start_spec) -> None:
    """Before the first step of a case started by a message: cancel the process's other start events.
    With a none start event beside the message start event, SpiffWorkflow would take the none start
    at once (the first start event wins) and the message would find nothing to start."""
    for task in wf.get_tasks():
        spec = task.task_spec
        other = task.workflow is wf and isinstance(spec, StartEventMixin) and spec is not start_spec
        if other and not task.has_state(TaskState.FINISHED_MASK):
            task.cancel()


def dump_state(wf: BpmnWorkflow) -> bytes:
    return orjson.dumps(SERIALIZER.to_dict(wf))


def load_state(blob: bytes, spec, subprocess_specs) -> BpmnWorkflow:
    dct = orjson.loads(blob)
    wf = SERIALIZER.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
    wf.script_engine = make_script_engine()  # not serialized: without this the unrestricted default is back
    return wf


def waiting_definitions(task) -> list:
    """The event definitions a waiting task listens for: its own, or each of a multiple definition's (an
    event-based gateway waits for a message *or* a timer as one MultipleEventDefinition)."""
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [] if definition is None else [definition]


def message_definitions(task) -> list:
    """The message event definitions among those a waiting task listens for."""
    return [d for d in waiting_definitions(task) if type(d).__name__.endswith("MessageEventDefinition")]


def signal_definitions(task) -> list:
    """The signal event definitions among those a waiting task listens for."""
    return [d for d in waiting_definitions(task) if isinstance(d, SignalEventDefinition)]


def waiting_timers(wf) -> list[tuple[_dt.datetime, str]]:
    """(due, task id) of every waiting timer, earliest first."""
    out = []
    for task in list(wf.event_manager.tasks.values()):
        if not any(isinstance(d, TimerEventDefinition) for d in waiting_definitions(task)):
            continue
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next")
        if not value:
            continue
        due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
        out.append((due, str(task.id)))
    return sorted(out)


def fire_due_timers(wf: BpmnWorkflow, now: _dt.datetime, effects: list[dict[str, Any]]) -> None:
    """Fire the timers due by ``now`` in due-time order, each at its own due instant, and note each firing
    in ``effects``. SpiffWorkflow's own ``refresh_timers`` fires every overdue timer at once in the
    order the diagram declares them: after a pause (the workers down, or a completion that reaches the
    case before the wake-up) a reminder due after an interrupting escalation would fire as well."""
    for _ in range(1000):  # a bound against a timer that keeps re-arming in the past
        before = {tid: due for due, tid in waiting_timers(wf)}
        due = sorted(d for d in before.values() if d <= now)
        if not due:
            return
        cycles_left = {
            tid: value.get("cycles")
            for tid in before
            if isinstance(value := wf.get_task_from_id(UUID(tid)).internal_data.get("event_value"), dict)
        }
        with timer_time(due[0] + _dt.timedelta(microseconds=1)):
            wf.refresh_timers()
            wf.do_engine_steps()
        after = {tid: d for d, tid in waiting_timers(wf)}
        fired_now = sorted((was_due, tid) for tid, was_due in before.items() if was_due <= due[0])
        for was_due, tid in fired_now:
            task = wf.get_task_from_id(UUID(tid))
            if tid in after:  # a cycle timer that fired waits again, for its next due time
                fired = after[tid] != was_due
            elif cycles_left.get(tid) == 0:  # a cycle timer with no cycles left ends without firing
                fired = False
            else:  # gone: fired, unless its task was cancelled (an interrupting event took it away)
                fired = task is not None and task.state == TaskState.COMPLETED
            if fired:
                element_id, activity = activity_types.fired_event(task)
                effects.append(
                    {
                        "type": "timer_fired",
                        "task_id": tid,
                        "element_id": element_id,
                        "activity": activity,
                        "due": was_due.astimezone(_dt.UTC).isoformat(),
                    }
                )


def run_engine(wf: BpmnWorkflow, action=None, now: _dt.datetime | None = None) -> list[dict[str, Any]]:
    """Run ``action`` (if any), fire the timers due by ``now`` (the engine clock) in due order, step the
    engine; returns the effects (mails, fired timers) recorded on the way."""
    effects: list[dict[str, Any]] = []
    token = current_effects.set(effects)
    now = now or clock.now()
    try:
        scope = StepScope(wf)
        if action is not None:
            with timers_held():
                action()
        fire_due_timers(wf, now, effects)
        wf.do_engine_steps()  # (nothing due by now is left waiting: no refresh of timers needed first)
        # A signal no catch event of the case took waits there for an outer caller; Delaktig's callers
        # get every thrown signal as an effect (engine.signals), so the case keeps none.
        if wf.bpmn_events:
            wf.bpmn_events = [
                e for e in wf.bpmn_events if not isinstance(e.event_definition, SignalEventDefinition)
            ]
        scope.share()  # what this step changed reaches every task still to run (engine.scope)
    except SpiffWorkflowException as err:
        task = getattr(err, "task", None)
        spec = getattr(task, "task_spec", None) or getattr(err, "task_spec", None)  # (a gateway's error)
        where = (getattr(spec, "bpmn_id", None) or getattr(err, "task_id", None) or "?").removesuffix(
            IMPLIED_SPLIT
        )  # an implied gateway's error is its activity's (bpmn.compile)
        detail = getattr(err, "error_type", None)
        message = str(getattr(err, "error_msg", None) or err).strip()
        raise ProcessError(
            where, f"{message}" + (f" ({detail})" if detail not in (None, "unknown") else "")
        ) from err
    except DelaktigError:
        raise
    except Exception as err:  # noqa: BLE001 — a defect must fail the step (rolled back), not the server
        raise ProcessError("?", f"{type(err).__name__}: {err}") from err
    finally:
        current_effects.reset(token)
    return effects


def json_safe(value: Any) -> Any:
    """Variables as JSON (dates as ISO strings) for the case's queryable ``data`` column."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))

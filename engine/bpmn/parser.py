"""SpiffWorkflow's Camunda parser, extended to keep what Camunda Modeler writes and Delaktig needs.

The stock ``CamundaParser`` drops ``camunda:assignee``, ``candidateGroups``, ``candidateUsers``,
``dueDate``, ``followUpDate`` and ``priority``, and returns an *empty* form unless ``camunda:formKey`` is
set — but Camunda Modeler's generated forms (``camunda:formData``) usually have no formKey. We read all of
it ourselves into ``task_spec.extensions`` as plain JSON-able dicts:

    extensions = {"properties": {...}, "camunda": {...}, "form": {"key": ..., "fields": [...]}}

Send tasks become ``SendMailTask`` specs: running one records a mail effect that the engine turns into an
outbox row in the same transaction (nothing leaves the process before commit).
"""

from __future__ import annotations

import contextvars
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser import event_parsers as bpmn_ep
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser
from SpiffWorkflow.bpmn.parser.task_parsers import GatewayParser
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    EndEvent,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    ReceiveTask,
    StartEvent,
)
from SpiffWorkflow.bpmn.specs.event_definitions import ErrorEventDefinition, SignalEventDefinition
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.camunda.parser import event_parsers as ep
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser, UserTaskParser
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.camunda.specs.user_task import UserTask

from engine import scope
from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS
from engine.sandbox import SandboxedEnvironment, juel_value
from engine.scope import SHADOWING

_C = f"{{{CAMUNDA_NS}}}"
CAMUNDA_ATTRIBUTES = (
    "assignee",
    "candidateGroups",
    "candidateUsers",
    "dueDate",
    "followUpDate",
    "priority",
    "formKey",
    "type",  # camunda:type="external" with camunda:topic and camunda:taskPriority: an external task
    "topic",
    "taskPriority",
)

# Effects (mails) recorded while the engine steps a workflow; the engine reads and clears them.
current_effects: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "delaktig_effects", default=None
)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def read_task_properties(node, xpath) -> dict[str, str]:
    props = {}
    for p in xpath("./bpmn:extensionElements/camunda:properties/camunda:property"):
        if p.get("name"):
            props[p.get("name")] = p.get("value") or ""
    return props


def read_form(node, xpath) -> dict[str, Any]:
    fields = []
    for f in xpath(".//camunda:formData/camunda:formField"):
        field: dict[str, Any] = {
            "id": f.get("id"),
            "type": f.get("type") or "string",
            "label": f.get("label") or f.get("id"),
            "default": f.get("defaultValue"),
            "constraints": {},
            "properties": {},
            "options": [],
        }
        for child in f:
            if child.tag == f"{_C}validation":
                for c in child:
                    if c.tag == f"{_C}constraint" and c.get("name"):
                        field["constraints"][c.get("name")] = c.get("config")
            elif child.tag == f"{_C}properties":
                for p in child:
                    key = p.get("id") or p.get("name")
                    if key:
                        field["properties"][key] = p.get("value")
            elif child.tag == f"{_C}value":
                field["options"].append({"id": child.get("id"), "name": child.get("name") or child.get("id")})
        fields.append(field)
    return {"key": node.get(f"{_C}formKey"), "fields": fields}


class _ExtensionsMixin:
    def parse_extensions(self, node=None):
        node = node if node is not None else self.node
        camunda = {}
        for attr in CAMUNDA_ATTRIBUTES:
            value = node.get(f"{_C}{attr}")
            if value is not None:
                camunda[attr] = value
        camunda["candidateGroups"] = _split(camunda.get("candidateGroups"))
        camunda["candidateUsers"] = _split(camunda.get("candidateUsers"))
        return {
            "properties": read_task_properties(node, self.xpath),
            "camunda": camunda,
            "form": read_form(node, self.xpath),
        }


class DelaktigUserTaskParser(_ExtensionsMixin, UserTaskParser):
    pass


class DelaktigTaskParser(_ExtensionsMixin, CamundaTaskParser):
    pass


class PassThroughTask(BpmnSpecMixin):
    """bpmn:task / bpmn:manualTask: completes on its own (Camunda 7 semantics)."""


class SendMailTask(BpmnSpecMixin):
    """A bpmn:sendTask: records an e-mail effect; the engine writes the outbox row in the same transaction."""

    def _run_hook(self, my_task):
        effects = current_effects.get()
        if effects is None:
            raise RuntimeError("a send task ran outside the engine's transaction")
        effects.append(
            {
                "type": "mail",
                "task_id": str(my_task.id),
                "element_id": self.bpmn_id,
                "name": self.bpmn_name,
                "properties": dict(self.extensions.get("properties", {})),
                "body": self.documentation or "",
                "data": dict(my_task.data),
            }
        )
        return True


class ExternalTask(BpmnSpecMixin):
    """A service task (or business rule or send task) with ``camunda:type="external"``: Camunda 7's
    external task. Running it only starts it; the case waits (SpiffWorkflow's STARTED state) until a
    worker fetches it through ``/external-task/fetchAndLock`` and completes it (``engine.external_tasks``).
    Its boundary events wait meanwhile, as a user task's do."""

    def _run_hook(self, my_task):
        return None  # STARTED: the engine projects it into the external_task table


def is_external(task_spec) -> bool:
    return isinstance(task_spec, ExternalTask)


class DelaktigImplementationParser(DelaktigTaskParser):
    """Service, business rule and send tasks: an external task when ``camunda:type="external"``; a send
    task without it mails (``SendMailTask``). Other implementations are refused at deploy."""

    @staticmethod
    def get_decision_ref(node):
        """Asked of the business rule task parser for the DMN files a diagram depends on: an external
        business rule task has none (one with a decision is refused at deploy)."""
        return node.get(f"{_C}decisionRef")

    def create_task(self):
        if self.node.get(f"{_C}type") == "external":
            self.spec_class = ExternalTask
        return super().create_task()


class DelaktigMessageEventDefinition(MessageEventDefinition):
    """Without ``camunda:resultVariable``, a message's variables are merged into the case's variables, as
    Camunda 7's ``processVariables`` are, instead of landing under ``<task>_Response``."""

    def throw(self, my_task):
        """A message throw event or message end event with no implementation does nothing in Camunda 7:
        message flows between pools are drawings, and cases receive messages through the engine's
        ``deliver_message``. SpiffWorkflow would evaluate the (absent) ``camunda:expression`` and fail
        at run time, or hand the message to a catch event of the same case, which Camunda never does.
        Implementations (``camunda:class`` …) are refused at deploy."""

    def update_internal_data(self, my_task, event):
        my_task.internal_data[self.name] = event.payload

    def update_task_data(self, my_task):
        event_data = my_task.internal_data.get(self.name) or {}
        payload, result_var = event_data.get("payload"), event_data.get("result_var") or self.result_var
        if result_var:
            my_task.data[result_var] = payload
        elif isinstance(payload, dict):
            my_task.data.update(payload)


class DelaktigErrorEventDefinition(ErrorEventDefinition):
    """An error event that fills the catching event's ``camunda:errorCodeVariable`` and
    ``errorMessageVariable`` with the thrown error's code and message, as Camunda 7 does — for an error
    end event in the diagram as for a worker's ``bpmnError``."""

    code_variable: str | None = None
    message_variable: str | None = None
    error_message: str | None = None

    def catch(self, my_task, event=None):
        super().catch(my_task, event)
        thrown = event.event_definition
        payload = my_task.internal_data.get(self.name)
        if not isinstance(payload, dict):
            return
        if self.code_variable:
            payload[self.code_variable] = getattr(thrown, "code", None)
        if self.message_variable:  # None when the error has no message, as Camunda sets it
            payload[self.message_variable] = getattr(thrown, "error_message", None)


class DelaktigSignalEventDefinition(SignalEventDefinition):
    """A signal: thrown, it reaches the catch events of its own case in the same step (SpiffWorkflow's own
    throw) and is noted as an effect, which the case run writes as a ``pending_signal`` row in the same
    transaction — the other cases and the signal start events get it after the commit
    (``engine.signals``), as Camunda 7 broadcasts a signal to every process instance."""

    def throw(self, my_task):
        effects = current_effects.get()
        if effects is not None:
            effects.append(
                {
                    "type": "signal",
                    "name": self.name,
                    "task_id": str(my_task.id),
                    "element_id": my_task.task_spec.bpmn_id,
                    "activity_name": my_task.task_spec.bpmn_name,
                    # Camunda's activity type (engine.activity_types): an end event or a throw event
                    "activity_type": "signalEndEvent"
                    if isinstance(my_task.task_spec, EndEvent)
                    else "intermediateSignalThrow",
                }
            )
        super().throw(my_task)


class _MessageMixin:
    def parse_signal_event(self, signal_event):
        d = super().parse_signal_event(signal_event)
        return DelaktigSignalEventDefinition(d.name, description=d.description)

    def parse_message_event(self, message_event):
        d = super().parse_message_event(message_event)
        return DelaktigMessageEventDefinition(d.name, d.correlation_properties, d.expression, d.result_var)

    def parse_error_event(self, error_event):
        """Keep ``camunda:errorCodeVariable``/``errorMessageVariable`` (the catching event stores the error's
        code and message in them; SpiffWorkflow drops them) and the ``camunda:errorMessage`` of the
        ``bpmn:error`` an error end event throws."""
        d = super().parse_error_event(error_event)
        out = DelaktigErrorEventDefinition(d.name, d.code, description=d.description)
        out.code_variable = error_event.get(f"{_C}errorCodeVariable")
        out.message_variable = error_event.get(f"{_C}errorMessageVariable")
        ref = error_event.get("errorRef")
        error = next(
            (e for e in error_event.getroottree().iter(f"{{{BPMN_NS}}}error") if ref and e.get("id") == ref),
            None,
        )
        out.error_message = error.get(f"{_C}errorMessage") if error is not None else None
        return out


class _InitiatorMixin:
    def create_task(self):
        """Keep ``camunda:initiator``: Camunda 7 stores the id of the user who started the case in the
        variable it names (often read back as ``camunda:assignee="${initiator}"``)."""
        spec = super().create_task()
        spec.initiator = self.node.get(f"{_C}initiator") or None
        return spec


class _SignalEndMixin:
    def create_task(self):
        """SpiffWorkflow's end event parser reads no ``signalEventDefinition``: a signal end event ran as a
        none end event and threw nothing. Camunda 7 throws the signal, as an intermediate throw event
        does."""
        event_definition = self.get_event_definition(
            [
                bpmn_ep.MESSAGE_EVENT_XPATH,
                bpmn_ep.CANCEL_EVENT_XPATH,
                bpmn_ep.ERROR_EVENT_XPATH,
                bpmn_ep.ESCALATION_EVENT_XPATH,
                bpmn_ep.TERMINATION_EVENT_XPATH,
                bpmn_ep.SIGNAL_EVENT_XPATH,
            ]
        )
        task = self._create_task(event_definition)
        task.connect(self.spec.end)
        return task


def _event_parser(base, *mixins):
    return type(f"Delaktig{base.__name__}", (*mixins, _MessageMixin, base), {})


def initiator_variable(start_spec) -> str | None:
    """The variable a start event's ``camunda:initiator`` names, or None."""
    return getattr(start_spec, "initiator", None)


class DelaktigReceiveTaskParser(_MessageMixin, ep.CamundaEventDefinitionParser, ReceiveTaskParser):
    """A receive task's message merges its variables into the case like a message catch event's; the
    stock parser gives it a plain BPMN definition that stores ``payload``/``result_var`` as variables."""


class _SplitMixin:
    """Camunda 7 takes every outgoing flow of an activity or event that has no condition (a parallel split
    without a gateway). SpiffWorkflow refuses such a node, but connects every output of one it is told
    handles them — a split with no join behaviour, so a boundary event that fires again splits again.
    Conditional flows out of an activity get an implied inclusive gateway (``compile._implicit_gateways``)."""

    def handles_multiple_outgoing(self):
        if super().handles_multiple_outgoing():
            return True
        if self.node.get("default") is not None:
            return False
        flows = self.process_parser.get_outgoing_sequence_flows(self.bpmn_id)
        return all(self.parse_condition(flow) is None for flow in flows)


class _LocalElementMixin:
    """A multi-instance activity's element variable shadows a case variable of the same name, as in
    Camunda 7 (``engine.scope.ShadowingLoop``); SpiffWorkflow's stops the loop instead."""

    def _add_multiinstance_task(self, loop_characteristics):
        super()._add_multiinstance_task(loop_characteristics)
        self.task.__class__ = SHADOWING.get(type(self.task), type(self.task))


def read_input_output(node) -> dict[str, list[dict[str, Any]]] | None:
    """An activity's ``camunda:inputOutput`` (Modeler's "Inputs"/"Outputs" tab) as plain dicts, or None:
    ``{"inputs": [{"name", "kind", "value"}], "outputs": [...]}`` where ``kind`` is ``text`` (a constant
    String; None when left empty, Camunda's null), ``expression`` (one ``${…}``) or ``script`` (one Python
    expression). What is not one of these is refused at deploy (``compile._check_input_output``)."""
    found = node.find(f"{{{BPMN_NS}}}extensionElements/{_C}inputOutput")
    if found is None:
        return None
    out: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
    for param in found:
        kind = {f"{_C}inputParameter": "inputs", f"{_C}outputParameter": "outputs"}.get(param.tag)
        if kind is None:
            continue
        script = param.find(f"{_C}script")
        text = param.text or ""
        if script is not None:
            value = {"kind": "script", "value": (script.text or "").strip()}
        elif "${" in text or "#{" in text:
            value = {"kind": "expression", "value": text.strip()}
        else:  # Camunda keeps a constant as written; an empty parameter is null
            value = {"kind": "text", "value": text if text.strip() else None}
        out[kind].append({"name": param.get("name"), **value})
    return out


_SCRIPT_VALUES = SandboxedEnvironment()  # (stateless between calls: each evaluation gets its own globals)


class ParameterError(Exception):
    """An input or output parameter that cannot be evaluated (the message names it)."""


def parameter_value(param: dict[str, Any], data: dict[str, Any], kind: str) -> Any:
    """One input or output parameter's value against the variables ``data`` (the activity's visible
    variables), or a ``ParameterError`` naming the parameter: the step is refused, nothing stored."""
    if param["kind"] == "text":
        return param["value"]
    try:
        if param["kind"] == "expression":
            return juel_value(param["value"], data)
        return _SCRIPT_VALUES.evaluate(param["value"], dict(data))
    except Exception as err:  # noqa: BLE001 — any failure refuses the step, naming what failed
        if type(err) is NameError and getattr(err, "name", None):
            why = f"variable {err.name!r} is not set"
        else:
            why = str(err) or type(err).__name__
        raise ParameterError(
            f"camunda:{kind}Parameter {param['name']!r} ({param['value']}) cannot be evaluated: {why}"
        ) from None


class InputOutputActivity:
    """An activity with ``camunda:inputOutput``, run as Camunda 7 runs it: the input parameters are
    evaluated when the activity starts, against the variables it sees then, and become its local variables
    (its form's defaults, an external task's variables, its script, the tasks of its embedded subprocess
    see them; the rest of the case does not); what the activity sets under such a name stays local. The
    output parameters are evaluated when it ends, in its local scope, and set on the case; then the locals
    are gone (``engine.scope.open_locals``/``close_locals``)."""

    io_mapping: dict[str, list[dict[str, Any]]]

    def _evaluate(self, my_task, kind: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        data = my_task.data
        for param in self.io_mapping[f"{kind}s"]:
            try:
                values[param["name"]] = parameter_value(param, data, kind)
            except ParameterError as err:
                raise WorkflowTaskException(str(err), task=my_task) from None
            if kind == "input":  # a later input reads the earlier ones (Camunda sets them in order)
                data = {**data, param["name"]: values[param["name"]]}
        return values

    def _open(self, my_task) -> None:
        if scope.IO_KEY not in my_task.internal_data:
            scope.open_locals(my_task, self._evaluate(my_task, "input"))

    def _update_hook(self, my_task):
        held = scope.held_locals(my_task)  # a waiting activity inheriting its parent's data again
        result = super()._update_hook(my_task)
        my_task.data.update(held)
        return result

    def _on_ready_hook(self, my_task):
        self._open(my_task)
        super()._on_ready_hook(my_task)

    def copy_data(self, my_task, subworkflow):
        """An embedded subprocess: the locals before its start event gets the data."""
        self._open(my_task)
        super().copy_data(my_task, subworkflow)

    def _on_complete_hook(self, my_task):
        self._open(my_task)  # (a task that completed without ever being ready: its inputs all the same)
        outputs = self._evaluate(my_task, "output")
        scope.close_locals(my_task)
        my_task.data.update(outputs)
        scope.spread(
            my_task.workflow.top_workflow, outputs
        )  # the whole case sees them, later in this step too
        super()._on_complete_hook(my_task)


_IO_CLASSES: dict[type, type] = {}


def with_input_output(spec_class: type) -> type:
    """``spec_class`` with ``InputOutputActivity`` in front (one class per spec class)."""
    found = _IO_CLASSES.get(spec_class)
    if found is None:
        found = type(f"{spec_class.__name__}WithIO", (InputOutputActivity, spec_class), {})
        _IO_CLASSES[spec_class] = found
    return found


class _InputOutputMixin:
    """Keep an activity's ``camunda:inputOutput`` (``InputOutputActivity``); where it is allowed is checked
    at deploy (``compile._check_input_output``)."""

    def create_task(self):
        spec = super().create_task()
        mapping = read_input_output(self.node)
        if mapping is not None:
            spec.__class__ = with_input_output(type(spec))
            spec.io_mapping = mapping
        return spec


class DelaktigParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (DelaktigUserTaskParser, UserTask),
        full_tag("sendTask"): (DelaktigImplementationParser, SendMailTask),
        full_tag("serviceTask"): (DelaktigImplementationParser, ExternalTask),
        full_tag("businessRuleTask"): (DelaktigImplementationParser, ExternalTask),
        full_tag("startEvent"): (_event_parser(ep.CamundaStartEventParser, _InitiatorMixin), StartEvent),
        full_tag("endEvent"): (_event_parser(ep.CamundaEndEventParser, _SignalEndMixin), EndEvent),
        full_tag("intermediateCatchEvent"): (
            _event_parser(ep.CamundaIntermediateCatchEventParser),
            IntermediateCatchEvent,
        ),
        full_tag("intermediateThrowEvent"): (
            _event_parser(ep.CamundaIntermediateThrowEventParser),
            IntermediateThrowEvent,
        ),
        full_tag("boundaryEvent"): (_event_parser(ep.CamundaBoundaryEventParser), BoundaryEvent),
        full_tag("receiveTask"): (DelaktigReceiveTaskParser, ReceiveTask),
        # Camunda 7 runs bpmn:task and bpmn:manualTask as pass-through activities; SpiffWorkflow would
        # make them manual and the case would wait forever for a click nobody is asked to make.
        full_tag("task"): (DelaktigTaskParser, PassThroughTask),
        full_tag("manualTask"): (DelaktigTaskParser, PassThroughTask),
    }


def _with_splits(classes: dict) -> dict:
    """Every node parser but the gateways' with ``_SplitMixin``."""
    out = {}
    for tag, (parser, spec) in classes.items():
        if not issubclass(parser, GatewayParser):
            parser = type(
                f"{parser.__name__}Split", (_SplitMixin, _LocalElementMixin, _InputOutputMixin, parser), {}
            )
        out[tag] = (parser, spec)
    return out


DelaktigParser.OVERRIDE_PARSER_CLASSES = _with_splits(
    {**BpmnParser.PARSER_CLASSES, **DelaktigParser.OVERRIDE_PARSER_CLASSES}
)

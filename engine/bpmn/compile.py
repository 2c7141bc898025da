"""From uploaded bytes to runnable specs: hardened parse → translate → SpiffWorkflow parse → validate.

Everything a diagram may say that SpiffWorkflow would otherwise only discover at run time (JUEL
conditions, ISO timer literals, unsafe scripts, gateways that can dead-end) is checked here, so a
bad diagram is refused at deploy with the element id and a reason, and nothing is stored.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.bpmn.event_subprocesses import rewrite_event_subprocesses
from engine.bpmn.expressions import (
    RUNTIME,
    TranslationError,
    original_expression,
    translate_condition,
    translate_timer,
    without_condition_check,
)
from engine.bpmn.links import rewrite_links
from engine.bpmn.parser import DelaktigParser
from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS, IMPLICIT, NSMAP, parse_bpmn_xml
from engine.errors import Problem, ValidationFailed
from engine.forms import DEFAULT_EXPRESSION
from engine.sandbox import SandboxedEnvironment, check_expression, check_script
from engine.users import NAME, ROLE

_B = f"{{{BPMN_NS}}}"
_C = f"{{{CAMUNDA_NS}}}"
_DUE = re.compile(
    r"^(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?|\$\{\s*[A-Za-z_]\w*\s*\}|\d{4}-\d\d-\d\d.*)$"
)
MAX_COVERAGE_COMBINATIONS = 4096


@dataclass
class Compiled:
    filename: str
    root: etree._Element
    process_ids: list[str] = field(default_factory=list)
    names: dict[str, str | None] = field(default_factory=dict)
    message_starts: dict[str, list[str]] = field(default_factory=dict)
    signal_starts: dict[str, list[str]] = field(default_factory=dict)
    parser: DelaktigParser | None = None
    problems: list[Problem] = field(default_factory=list)

    def spec(self, process_id: str):
        assert self.parser is not None
        return self.parser.get_spec(process_id), self.parser.get_subprocess_specs(process_id)


def role_from_lane(label: str | None) -> str | None:
    """Lane "Enhetschef" → role "enhetschef"; å/ä → a, ö → o, other non-ASCII dropped, spaces → _."""
    if not label:
        return None
    text = unicodedata.normalize("NFKD", label.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return text or None


def _eid(el) -> str:
    node = el
    while node is not None and not node.get("id"):
        node = node.getparent()
    return node.get("id") if node is not None else "?"


def _normalise_flow_refs(root) -> None:
    """``bpmn:incoming``/``outgoing`` are optional in BPMN, but SpiffWorkflow follows only them: a file from
    a tool that omits them would deploy and then stop at its start event. Derive them from the flows."""
    for process in root.iter(f"{_B}process", f"{_B}subProcess"):
        nodes = {el.get("id"): el for el in process if el.get("id")}
        for flow in process.iterfind(f"{_B}sequenceFlow"):
            for attr, tag in (("sourceRef", "outgoing"), ("targetRef", "incoming")):
                node = nodes.get(flow.get(attr))
                if node is None:
                    continue
                if flow.get("id") not in {(ref.text or "").strip() for ref in node.iterfind(f"{_B}{tag}")}:
                    ref = etree.Element(f"{_B}{tag}")
                    ref.text = flow.get("id")
                    # Schema order: incoming/outgoing come after documentation/extensionElements.
                    anchor = [
                        c
                        for c in node
                        if etree.QName(c).localname
                        in ("documentation", "extensionElements", "incoming", "outgoing")
                    ]
                    if anchor:
                        anchor[-1].addnext(ref)
                    else:
                        node.insert(0, ref)


_PLAIN_CYCLE = re.compile(r"^R(\d*)/(P[^/]+)$", re.IGNORECASE)


def _interrupting_cycles(root, problems: list[Problem]) -> None:
    """An interrupting boundary timer fires once in Camunda 7, at its cycle's first due time, and
    cancels its activity; SpiffWorkflow kept firing it every cycle and never interrupted. ``R3/PT1H`` on
    an interrupting boundary event is therefore run as ``PT1H`` (the parsed copy; the stored diagram
    stays as drawn). A cycle whose first due time is not plain (a start date, an expression) is refused."""
    for event in root.iter(f"{_B}boundaryEvent"):
        if event.get("cancelActivity", "true").strip().lower() == "false":
            continue
        for cycle in event.iterfind(f"{_B}timerEventDefinition/{_B}timeCycle"):
            text = (cycle.text or "").strip()
            m = _PLAIN_CYCLE.match(text)
            if m is None or m.group(1) == "0":
                problems.append(
                    Problem(
                        event.get("id"),
                        f"the interrupting boundary timer's timeCycle {text!r} is not supported: an "
                        "interrupting timer fires once, at its first cycle; write R<n>/<duration> "
                        "(R3/PT1H), or a timeDuration or timeDate, or make it non-interrupting for reminders",
                    )
                )
                continue
            cycle.tag = f"{_B}timeDuration"
            cycle.text = m.group(2)


def _translate(root, problems: list[Problem]) -> None:
    for expr in root.iter(f"{_B}conditionExpression"):
        if expr.get("language") and expr.get("language").lower() not in ("python", "juel"):
            problems.append(
                Problem(_eid(expr), f"condition language {expr.get('language')!r} is not supported")
            )
            continue
        if not (expr.text or "").strip():  # Modeler writes an empty one when the field is left blank
            problems.append(Problem(_eid(expr), "the condition is empty; write one, or remove it"))
            continue
        try:
            expr.text = translate_condition(
                (expr.text or "").strip(), f"the condition of sequence flow {_eid(expr)}"
            )
        except TranslationError as err:
            problems.append(Problem(_eid(expr), f"condition {expr.text!r} cannot be used: {err}"))
            continue
        message = check_expression(expr.text)
        if message:
            problems.append(Problem(_eid(expr), f"condition refused by the sandbox: {message}"))
    for timer in root.iter(f"{_B}timerEventDefinition"):
        for kind in ("timeDate", "timeDuration", "timeCycle"):
            for el in timer.findall(f"{_B}{kind}"):
                try:
                    el.text = translate_timer(kind, (el.text or "").strip())
                except TranslationError as err:
                    problems.append(
                        Problem(_eid(timer.getparent()), f"timer {kind} {el.text!r} cannot be used: {err}")
                    )
                    continue
                message = check_expression(el.text)
                if message:
                    problems.append(
                        Problem(
                            _eid(timer.getparent()), f"timer expression refused by the sandbox: {message}"
                        )
                    )
    _translate_multi_instance(root, problems)
    for script in root.iter(f"{_B}script"):
        task = script.getparent()
        fmt = (task.get("scriptFormat") or "python").lower()
        if fmt not in ("python", "py"):
            problems.append(Problem(_eid(task), f"script format {fmt!r} is not supported; use python"))
            continue
        message = check_script(script.text or "")
        if message:
            problems.append(Problem(_eid(task), f"script refused by the sandbox: {message}"))


# Camunda 7 sets these on a multi-instance activity; SpiffWorkflow has none of them, so a condition that
# reads one would fail when the first instance completes.
_MI_COUNTERS = re.compile(r"\b(nrOfInstances|nrOfActiveInstances|nrOfCompletedInstances|loopCounter)\b")


def _translate_multi_instance(root, problems: list[Problem]) -> None:
    """``loopCardinality`` and ``completionCondition`` are JUEL too (``${antal}``); SpiffWorkflow evaluates
    them as Python when the activity starts or an instance ends."""
    for tag in ("loopCardinality", "completionCondition"):
        for el in root.iter(f"{_B}{tag}"):
            text = (el.text or "").strip()
            if not text:
                problems.append(Problem(_eid(el), f"the multi-instance {tag} is empty"))
                continue
            try:
                # Camunda wants a Boolean from a completionCondition too
                el.text = translate_condition(
                    text, f"the {tag} of {_eid(el)}" if tag == "completionCondition" else None
                )
            except TranslationError as err:
                problems.append(Problem(_eid(el), f"multi-instance {tag} {text!r} cannot be used: {err}"))
                continue
            if tag == "completionCondition" and (m := _MI_COUNTERS.search(el.text)):
                problems.append(
                    Problem(
                        _eid(el),
                        f"completionCondition {text!r} reads {m.group(1)}, which Delaktig does not set; "
                        "test the instances' own variables instead",
                    )
                )
                continue
            message = check_expression(el.text)
            if message:
                problems.append(Problem(_eid(el), f"multi-instance {tag} refused by the sandbox: {message}"))


RESERVED_IDS = {"Start", "End", "Root"}  # SpiffWorkflow's own task specs; an element with one of these ids
# silently replaces them (a start event called "Start" leaves the process with no way in).


def _check_structure(root, problems: list[Problem]) -> None:
    for el in root.iter(f"{_B}*"):
        if el.get("id") in RESERVED_IDS:
            problems.append(
                Problem(
                    el.get("id"), f"the id {el.get('id')!r} is reserved by the engine; rename the element"
                )
            )
    for process in root.iterfind(f"{_B}process"):
        lanes = {}
        for lane in process.iter(f"{_B}lane"):
            for ref in lane.iterfind(f"{_B}flowNodeRef"):
                lanes[(ref.text or "").strip()] = lane.get("name")
        enum_domains = _form_domains(process)
        for task in process.iter(f"{_B}userTask"):
            groups = (
                task.get(f"{_C}candidateGroups")
                or task.get(f"{_C}candidateUsers")
                or task.get(f"{_C}assignee")
            )
            if not groups and not role_from_lane(lanes.get(task.get("id"))):
                problems.append(
                    Problem(task.get("id"), "user task has neither a lane nor camunda:candidateGroups")
                )
            for attr in ("dueDate", "followUpDate"):
                value = task.get(f"{_C}{attr}")
                if value and not _DUE.match(value.strip()):
                    problems.append(
                        Problem(
                            task.get("id"),
                            f"camunda:{attr} {value!r} is not an ISO-8601 duration, date or ${{variable}}",
                        )
                    )
            priority = task.get(f"{_C}priority")
            if priority and not priority.strip().lstrip("-").isdigit():
                problems.append(Problem(task.get("id"), f"camunda:priority {priority!r} must be an integer"))
            for f in task.iterfind(f".//{_C}formField"):
                if not (f.get("id") or "").isidentifier():
                    problems.append(
                        Problem(task.get("id"), f"form field id {f.get('id')!r} is not a valid variable name")
                    )
                default = f.get("defaultValue") or ""
                if ("${" in default or "#{" in default) and not DEFAULT_EXPRESSION.match(default):
                    problems.append(
                        Problem(
                            task.get("id"),
                            f"form field {f.get('id')!r}: defaultValue {default!r} — only a variable "
                            "(${name} or ${name.key}) is supported as a default expression",
                        )
                    )
        for event in process.iter(f"{_B}startEvent"):
            if event.getparent() is process and event.find(f"{_B}timerEventDefinition") is not None:
                problems.append(
                    Problem(
                        event.get("id"),
                        "timer start events are not supported (nothing would ever start the case); use a none "
                        "start event and a schedule (processes/<folder>/schedules.yaml, README: scheduled "
                        "routines)",
                    )
                )
        flows = {f.get("id"): f for f in process.iter(f"{_B}sequenceFlow")}
        _check_text_conditions(flows.values(), enum_domains, problems)
        for tag in ("exclusiveGateway", "inclusiveGateway"):
            for gw in process.iter(f"{_B}{tag}"):
                _check_gateway(gw, flows, enum_domains, problems)


# What Camunda 7 runs but Delaktig does not: refused at deploy with the reason, never accepted and then
# skipped or stuck at run time. (element tag or camunda extension, message)
_UNSUPPORTED = {
    f"{_B}conditionalEventDefinition": "conditional events are not supported; use a gateway with conditions",
    f"{_B}compensateEventDefinition": "compensation events are not supported",
    f"{_C}executionListener": "execution listeners are not supported; use a script task",
    f"{_C}taskListener": "task listeners are not supported; use a script task",
    f"{_C}connector": "connectors are not supported",
}  # (camunda:asyncBefore/After and their retry cycles change nothing here: every step is one transaction)
_COLLECTION = re.compile(r"^\$\{\s*([A-Za-z_]\w*)\s*\}$")
_INT32 = (-(2**31), 2**31 - 1)


def _check_names(el, attr: str, pattern, kind: str, problems: list[Problem]) -> None:
    """Role and user names as accounts can have them (engine.users): a group 'handläggare' would match
    nobody, and the task would wait for ever. ``${…}`` names are resolved when the task is created."""
    for value in (el.get(f"{_C}{attr}") or "").split(","):
        name = value.strip()
        if name and "${" not in name and "#{" not in name and not pattern.match(name):
            allowed = "a–z, 0–9, _ - . @" if kind == "user" else "a–z, 0–9, _ -"
            problems.append(
                Problem(
                    el.get("id"),
                    f"camunda:{attr} {name!r} is not a possible {kind} name ({allowed}; å/ä → a, ö → o): "
                    "no one could ever be offered it",
                )
            )


def _check_supported(root, problems: list[Problem]) -> None:
    """Constructs Delaktig does not run, duplicate ids and flows to nowhere — each named by its element."""
    for tag, message in _UNSUPPORTED.items():
        for el in root.iter(tag):
            owner = el.getparent() if tag.endswith("EventDefinition") else el  # the event, not its definition
            problems.append(Problem(_eid(owner), message))
    seen: dict[str, int] = {}
    for el in root.iter(f"{_B}*"):
        if el.get("id"):
            seen[el.get("id")] = seen.get(el.get("id"), 0) + 1
    for eid, n in seen.items():
        if n > 1:
            problems.append(Problem(eid, f"the id {eid!r} is used by {n} elements; ids must be unique"))
    for scope in root.iter(f"{_B}process", f"{_B}subProcess", f"{_B}transaction"):
        nodes = {el.get("id") for el in scope if el.get("id")}
        for flow in scope.iterfind(f"{_B}sequenceFlow"):
            for attr in ("sourceRef", "targetRef"):
                ref = flow.get(attr)
                if ref not in nodes:
                    problems.append(
                        Problem(
                            flow.get("id") or "?",
                            f"sequence flow {attr} {ref!r} is not an element of its process",
                        )
                    )
    for el in root.iter(f"{_B}multiInstanceLoopCharacteristics"):
        collection = el.get(f"{_C}collection")
        if collection is None:
            continue
        m = _COLLECTION.match(collection.strip())
        if m:  # Camunda writes ${list}; SpiffWorkflow reads the variable name
            el.set(f"{_C}collection", m.group(1))
        elif not collection.strip().isidentifier():
            problems.append(
                Problem(
                    _eid(el),
                    f"camunda:collection {collection!r} must name a list variable: ${{list}} or list",
                )
            )
    for process in root.iterfind(f"{_B}process"):
        _check_names(process, "candidateStarterGroups", ROLE, "role", problems)
    for el in root.iter(f"{_B}*"):  # what the tables hold of a diagram (engine.models' column sizes)
        eid = el.get("id") or ""
        if len(eid) > 200 or (etree.QName(el).localname == "process" and len(eid) > 150):
            problems.append(
                Problem(eid[:60] + "…", "the id is too long (a process id at most 150, others 200)")
            )
    for el in root.iter(f"{_B}message"):
        if len(el.get("name") or "") > 200:
            problems.append(Problem(_eid(el), "the message name is longer than 200 characters"))
    for el in root.iter(f"{_B}userTask"):
        if len(el.get("name") or "") > 300:
            problems.append(Problem(el.get("id"), "the task name is longer than 300 characters"))
        for attr in ("candidateGroups", "candidateUsers", "assignee"):
            if any(len(v.strip()) > 100 for v in (el.get(f"{_C}{attr}") or "").split(",")):
                problems.append(
                    Problem(el.get("id"), f"a name in camunda:{attr} is longer than 100 characters")
                )
        _check_names(el, "candidateGroups", ROLE, "role", problems)
        _check_names(el, "candidateUsers", NAME, "user", problems)
        priority = (el.get(f"{_C}priority") or "").strip()
        if priority.lstrip("-").isdigit() and not _INT32[0] <= int(priority) <= _INT32[1]:
            problems.append(
                Problem(el.get("id"), f"camunda:priority {priority} is out of range (32-bit integer)")
            )


_IMPLEMENTATIONS = ("class", "expression", "delegateExpression", "type")
_THROWING = ("intermediateThrowEvent", "endEvent")


def _check_camunda_details(root, problems: list[Problem]) -> None:
    """Camunda attributes SpiffWorkflow would drop or misread: refused, so a diagram never runs with a
    step quietly missing (a result never stored, a form never shown, a receive task that never waits)."""
    _check_message_events(root, problems)
    _check_implementations(root, problems)
    _check_script_tasks(root, problems)
    _check_call_mappings(root, problems)
    _check_forms(root, problems)
    for event in root.iter(f"{_B}intermediateCatchEvent"):
        if event.find(f"{_B}timerEventDefinition/{_B}timeCycle") is not None:
            problems.append(
                Problem(
                    event.get("id"),
                    "a timeCycle on an intermediate timer event would pass the flow on once per cycle; "
                    "use timeDuration or timeDate (or a non-interrupting boundary timer for reminders)",
                )
            )
    _check_signals(root, problems)
    for event in root.iter(f"{_B}startEvent"):
        name = event.get(f"{_C}initiator")
        if name is not None and (not name.isidentifier() or name.startswith("_")):
            problems.append(
                Problem(event.get("id"), f"camunda:initiator {name!r} is not a possible variable name")
            )
    for ed in root.iter(f"{_B}errorEventDefinition"):
        for attr in ("errorCodeVariable", "errorMessageVariable"):
            name = ed.get(f"{_C}{attr}")
            if name is not None and (not name.isidentifier() or name.startswith("_")):
                problems.append(
                    Problem(_eid(ed.getparent()), f"camunda:{attr} {name!r} is not a possible variable name")
                )
    for process in root.iterfind(f"{_B}process"):  # the column sizes of definitions and inbox rows
        if len(process.get("name") or "") > 300:
            problems.append(Problem(process.get("id"), "the process name is longer than 300 characters"))
    for lane in root.iter(f"{_B}lane"):
        if len(lane.get("name") or "") > 200:
            problems.append(Problem(lane.get("id"), "the lane name is longer than 200 characters"))


def signal_names(root) -> dict[str, str]:
    """``bpmn:signal`` id → the signal's name (its id when it has none), as Camunda names it."""
    return {el.get("id"): el.get("name") or el.get("id") for el in root.iter(f"{_B}signal")}


def _check_signals(root, problems: list[Problem]) -> None:
    """Signals are broadcast, as in Camunda 7: a throw event (or ``POST /signal``) reaches every waiting
    catch event of every case and starts every process whose start event is a signal start event with
    that name (``engine.signals``). Refused: a name with an expression (Camunda resolves it when the
    case gets there; Delaktig indexes names as written, so it would wait for the literal text for ever),
    a ``signalRef`` naming no ``bpmn:signal``, and ``camunda:in`` on a signal throw (Delaktig passes no
    variables with a thrown signal; Camunda does only with it)."""
    signals = signal_names(root)
    for sd in root.iter(f"{_B}signalEventDefinition"):
        event = sd.getparent()
        ref = sd.get("signalRef")
        if sd.find(f"{_B}extensionElements/{_C}in") is not None:
            problems.append(
                Problem(
                    _eid(event),
                    "camunda:in on a signal event: Delaktig passes no variables with a thrown signal "
                    "(POST /signal can send variables)",
                )
            )
        if ref is None or ref not in signals:
            problems.append(
                Problem(_eid(event), f"the signal event refers to no bpmn:signal ({ref!r}); pick a signal")
            )
            continue
        name = signals[ref]
        if "${" in name or "#{" in name:
            problems.append(
                Problem(
                    _eid(event),
                    f"signal {name!r}: signal names with expressions are not supported; use a fixed name",
                )
            )
        elif len(name) > 200:
            problems.append(Problem(_eid(event), "the signal name is longer than 200 characters"))


def _check_message_events(root, problems: list[Problem]) -> None:
    for md in root.iter(f"{_B}messageEventDefinition"):
        event = md.getparent()
        throwing = etree.QName(event).localname in _THROWING
        if throwing and any(md.get(f"{_C}{a}") is not None for a in _IMPLEMENTATIONS):
            problems.append(
                Problem(
                    _eid(event),
                    "message throw events with an implementation (camunda:class, expression, "
                    "delegateExpression, external) are not supported; use a send task for e-mail",
                )
            )
    for task in root.iter(f"{_B}receiveTask"):
        if not task.get("messageRef"):  # SpiffWorkflow would pass straight through it
            problems.append(
                Problem(
                    task.get("id"), "the receive task has no message (messageRef): nothing could reach it"
                )
            )


_IMPLEMENTED = ("serviceTask", "businessRuleTask", "sendTask")
_INT64 = (-(2**63), 2**63 - 1)
_NOT_EXTERNAL = {
    "serviceTask": 'service tasks run in Delaktig only as external tasks (camunda:type="external" with a '
    "topic, done by a worker through /engine-rest/external-task); Java classes, expressions and delegate "
    "expressions are not run. Use a script task, or a send task for e-mail",
    "businessRuleTask": "business rule tasks (DMN decisions) are not supported; use a gateway with "
    'conditions, a script task, or an external task (camunda:type="external")',
    "sendTask": "a send task mails by its camunda:properties in Delaktig; Java classes, expressions and "
    'delegate expressions are not run (or make it an external task: camunda:type="external")',
}


def _check_implementations(root, problems: list[Problem]) -> None:
    """Which service, business rule and send tasks Delaktig runs: external tasks (a worker fetches and
    completes them over the REST API) and send tasks that mail. Anything else would stand still."""
    for el in root.iter(*(f"{_B}{tag}" for tag in _IMPLEMENTED)):
        tag = etree.QName(el).localname
        kind = el.get(f"{_C}type")
        if kind == "external":
            _check_external(el, problems)
            continue
        implemented = kind is not None or any(el.get(f"{_C}{a}") is not None for a in _IMPLEMENTATIONS[:3])
        if implemented or tag != "sendTask":  # a plain send task mails
            problems.append(Problem(el.get("id"), _NOT_EXTERNAL[tag]))


def _check_external(el, problems: list[Problem]) -> None:
    eid = el.get("id")
    topic = (el.get(f"{_C}topic") or "").strip()
    if not topic:
        problems.append(Problem(eid, "an external task needs a topic (camunda:topic) for workers to fetch"))
    elif "${" in topic or "#{" in topic:
        problems.append(Problem(eid, "camunda:topic must be a plain name, not an expression"))
    elif len(topic) > 200:
        problems.append(Problem(eid, "camunda:topic is longer than 200 characters"))
    else:
        el.set(f"{_C}topic", topic)
    if any(el.get(f"{_C}{a}") is not None for a in _IMPLEMENTATIONS[:3]):
        problems.append(
            Problem(eid, "an external task has no camunda:class, expression or delegateExpression")
        )
    priority = (el.get(f"{_C}taskPriority") or "").strip()
    if priority and not priority.lstrip("-").isdigit() and not _COLLECTION.match(priority):
        problems.append(
            Problem(eid, f"camunda:taskPriority {priority!r} must be an integer or ${{variable}}")
        )
    elif priority.lstrip("-").isdigit() and not _INT64[0] <= int(priority) <= _INT64[1]:
        problems.append(Problem(eid, f"camunda:taskPriority {priority} is out of range (64-bit integer)"))
    if el.find(f"{_B}extensionElements/{_C}errorEventDefinition") is not None:
        problems.append(
            Problem(
                eid,
                "camunda:errorEventDefinition on external tasks is not supported; the worker reports "
                "the error (bpmnError) and an error boundary event catches it",
            )
        )


# Where Delaktig runs camunda:inputOutput (engine.bpmn.parser.InputOutputActivity); the service, send and
# business rule tasks are external tasks (or a send task that mails): _check_implementations refuses others.
_IO_ACTIVITIES = {
    "userTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "businessRuleTask",
    "task",
    "manualTask",
    "subProcess",
}
# Where Camunda 7 itself refuses it at deploy (BpmnParse.checkActivityInputOutputSupported, parseBoundaryEvents,
# ensureNoIoMappingDefined on start events).
_IO_REFUSED_BY_CAMUNDA = ("Gateway", "startEvent", "boundaryEvent", "sequenceFlow", "process")


def _io_refusal(el) -> str | None:
    """Why ``el``'s camunda:inputOutput cannot run, or None."""
    local = etree.QName(el).localname
    if local == "subProcess" and el.get("triggeredByEvent", "false").lower() == "true":
        return "camunda:inputOutput is not allowed on an event subprocess (Camunda 7 refuses it too)"
    if any(local.endswith(word) or local == word for word in _IO_REFUSED_BY_CAMUNDA):
        return f"camunda:inputOutput is not allowed on a bpmn:{local} (Camunda 7 refuses it too)"
    if local == "callActivity":
        return (
            "camunda:inputOutput on a call activity is not supported: the called process shares all "
            'variables (camunda:in/out variables="all"); map values in the calling process instead'
        )
    if local.endswith("Event"):
        return f"camunda:inputOutput on a bpmn:{local} is not supported; put the mapping on a task before or after it"
    if local not in _IO_ACTIVITIES:
        return f"camunda:inputOutput on a bpmn:{local} is not supported"
    if el.find(f"{_B}multiInstanceLoopCharacteristics") is not None:
        return (
            "camunda:inputOutput on a multi-instance activity is not supported (Camunda 7 refuses its "
            "output parameters); put the mapping on a task inside, or before or after the loop"
        )
    return None


def _check_input_output(root, problems: list[Problem]) -> None:
    """``camunda:inputOutput`` runs on tasks and embedded subprocesses (``parser.InputOutputActivity``):
    refused, naming the element and the parameter, where Camunda refuses it or Delaktig would run it
    differently (a list or map value, a script in another language than Python or of more than one
    expression, text around a ``${…}``)."""
    for io in root.iter(f"{_C}inputOutput"):
        holder = io.getparent()
        if etree.QName(holder).localname != "extensionElements":
            continue  # inside a camunda:connector: refused with the connector
        el = holder.getparent()
        eid = _eid(el)
        why = _io_refusal(el)
        if why:
            problems.append(Problem(eid, why))
            continue
        seen: set[str] = set()
        for param in io:
            kind = etree.QName(param).localname
            if kind not in ("inputParameter", "outputParameter"):
                continue
            _check_parameter(eid, kind, param, seen, problems)


def _check_parameter(eid: str, kind: str, param, seen: set[str], problems: list[Problem]) -> None:
    name = param.get("name") or ""
    if not name.isidentifier() or name.startswith("_"):
        problems.append(Problem(eid, f"camunda:{kind} name {name!r} is not a possible variable name"))
        return
    if kind == "inputParameter":
        if name in seen:
            problems.append(Problem(eid, f"camunda:inputParameter {name!r} is given twice"))
        seen.add(name)
    where = f"camunda:{kind} {name!r}"
    nested = [etree.QName(c).localname for c in param if isinstance(c.tag, str)]
    if "list" in nested or "map" in nested:
        problems.append(
            Problem(
                eid,
                f"{where}: list and map values are not supported; build the value with one "
                "${…} expression or in a script task",
            )
        )
        return
    script = param.find(f"{_C}script")
    if script is not None:
        fmt = (script.get("scriptFormat") or "").strip().lower()
        text = (script.text or "").strip()
        if fmt not in ("python", "py"):
            problems.append(Problem(eid, f"{where}: script format {fmt!r} is not supported; use python"))
        elif script.get("resource") is not None:
            problems.append(Problem(eid, f"{where}: external scripts (resource) are not supported"))
        elif message := check_expression(text):
            problems.append(
                Problem(
                    eid,
                    f"{where}: a Python script parameter must be one expression (its value is the "
                    f"parameter's): {message}",
                )
            )
        return
    text = param.text or ""
    if "${" not in text and "#{" not in text:
        return  # a constant text (a String), or null when empty
    try:
        translated = translate_condition(text.strip())
    except TranslationError as err:
        problems.append(Problem(eid, f"{where}: {text.strip()!r} cannot be used: {err}"))
        return
    message = check_expression(translated)
    if message:
        problems.append(Problem(eid, f"{where}: refused by the sandbox: {message}"))


def _check_flow_nodes(root, problems: list[Problem]) -> None:
    """What Camunda 7 refuses at deploy or never does, and SpiffWorkflow would run some other way: two
    none start events (the second never ran), a start event with an incoming flow or an end event with an
    outgoing flow (a flow that was never, or wrongly, taken), a
    gateway with no way out or a ``default`` that is not one of its flows (the case stood still), a loop
    marker (Camunda runs no standard loops)."""
    for scope in root.iter(f"{_B}process", f"{_B}subProcess", f"{_B}transaction"):
        nodes = [el for el in scope if el.get("id")]
        flows = [f for f in nodes if etree.QName(f).localname == "sequenceFlow"]
        none_starts = [
            el
            for el in nodes
            if etree.QName(el).localname == "startEvent"
            and not any(etree.QName(c).localname.endswith("EventDefinition") for c in el)
        ]
        if etree.QName(scope).localname == "process" and len(none_starts) > 1:
            for extra in none_starts[1:]:
                problems.append(
                    Problem(
                        extra.get("id"),
                        f"the process has {len(none_starts)} none start events "
                        f"({', '.join(e.get('id') for e in none_starts)}); Camunda 7 refuses more than one "
                        "(a case would start at only one of them): keep one, or make the others message "
                        "start events",
                    )
                )
        for node in nodes:
            local = etree.QName(node).localname
            outgoing = [f.get("id") for f in flows if f.get("sourceRef") == node.get("id")]
            if local == "endEvent" and outgoing:
                problems.append(
                    Problem(
                        node.get("id"),
                        f"an end event ends its path: its outgoing sequence flow {', '.join(outgoing)} "
                        "would never be taken in Camunda 7; remove it, or use an intermediate event",
                    )
                )
            incoming = [f.get("id") for f in flows if f.get("targetRef") == node.get("id")]
            if local == "startEvent" and incoming:
                problems.append(
                    Problem(
                        node.get("id"),
                        f"a start event begins its path: its incoming sequence flow {', '.join(incoming)} "
                        "can never reach it; point the flow at the task after it, or use an intermediate "
                        "event",
                    )
                )
            if local in ("exclusiveGateway", "inclusiveGateway") and not outgoing:
                problems.append(
                    Problem(
                        node.get("id"),
                        "the gateway has no outgoing sequence flow: a case would stop here "
                        "(Camunda 7 refuses it too)",
                    )
                )
            default = node.get("default")
            if default is not None and default not in outgoing:
                problems.append(
                    Problem(
                        node.get("id"),
                        f"the default flow {default!r} is not an outgoing sequence flow of this element "
                        f"(its outgoing flows: {', '.join(outgoing) or 'none'})",
                    )
                )
    for loop in root.iter(f"{_B}standardLoopCharacteristics"):
        problems.append(
            Problem(
                _eid(loop.getparent()),
                "loop markers (standardLoopCharacteristics) are not supported: Camunda 7 does not run "
                "standard loops; draw the loop back with a gateway, or use a multi-instance marker",
            )
        )


_BINDINGS = ("latest", "deployment")


def _check_call_cycles(executable, problems: list[Problem]) -> None:
    """A process that calls itself, directly or through others, is refused: SpiffWorkflow builds a called
    process's steps when its caller starts, so the case's first step would never end (one process of
    the web or worker stalled for good by one deploy)."""
    calls = {
        p.get("id"): [
            (c.get("id"), (c.get("calledElement") or "").strip()) for c in p.iter(f"{_B}callActivity")
        ]
        for p in executable
    }

    def visit(pid: str, path: list[str]) -> None:
        for eid, called in calls.get(pid, []):
            if called in path:
                loop = " → ".join([*path[path.index(called) :], called])
                problems.append(
                    Problem(
                        eid,
                        f"calledElement {called!r} calls back into itself ({loop}): recursive calls are not supported",
                    )
                )
            elif called in calls:
                visit(called, [*path, called])

    for pid in calls:
        before = len(problems)
        visit(pid, [pid])
        if len(problems) > before:
            return  # one report per cycle is enough: every process on it would repeat it


def _check_call_activities(root, executable, problems: list[Problem]) -> None:
    """A call activity calls an executable process of the same file, by its id: the version deployed
    with it (Camunda's ``deployment`` binding; ``latest`` is the same here, the file is deployed as one)."""
    pids = {p.get("id") for p in executable}
    _check_call_cycles(executable, problems)
    for call in root.iter(f"{_B}callActivity"):
        eid = call.get("id")
        called = (call.get("calledElement") or "").strip()
        if not called:
            problems.append(Problem(eid, "the call activity names no process (calledElement)"))
        elif "${" in called or "#{" in called:
            problems.append(
                Problem(
                    eid,
                    f"calledElement {called!r}: expressions are not supported; call an executable "
                    "process of the same file by its id",
                )
            )
        elif called not in pids:
            problems.append(
                Problem(
                    eid,
                    f"calledElement {called!r} is not an executable process of this file "
                    f"(they are: {', '.join(sorted(pids))}); a call activity calls a process of the same file",
                )
            )
        binding = (call.get(f"{_C}calledElementBinding") or "latest").strip()
        if binding not in _BINDINGS:
            problems.append(
                Problem(
                    eid,
                    f"camunda:calledElementBinding {binding!r} is not supported: a call activity runs the "
                    "called process of the same file, as deployed with it (binding latest or deployment)",
                )
            )
        for attr in ("calledElementVersion", "calledElementVersionTag", "calledElementTenantId"):
            if call.get(f"{_C}{attr}") is not None and binding in _BINDINGS:
                problems.append(
                    Problem(
                        eid,
                        f"camunda:{attr} is not supported: a call activity runs the called process of "
                        "the same file, as deployed with it",
                    )
                )


def _check_message_names(root, problems: list[Problem]) -> None:
    """Camunda 7 resolves ``${…}`` in a message name when the case reaches the event; Delaktig would wait
    for the literal text for ever: refused, naming every event that uses the message."""
    dynamic = {
        m.get("id"): m.get("name")
        for m in root.iter(f"{_B}message")
        if "${" in (m.get("name") or "") or "#{" in (m.get("name") or "")
    }
    if not dynamic:
        return
    users: dict[str, list[str]] = {mid: [] for mid in dynamic}
    for el in root.iter(f"{_B}messageEventDefinition", f"{_B}receiveTask"):
        ref = el.get("messageRef")
        owner = el.getparent() if el.tag.endswith("EventDefinition") else el
        if ref in users and etree.QName(owner).localname not in _THROWING:  # (throws only pass on)
            users[ref].append(_eid(owner))
    for mid, name in dynamic.items():
        for where in users[mid]:
            problems.append(
                Problem(
                    where,
                    f"message {name!r} (message {mid}): message names with expressions are not "
                    "supported; use a fixed name and correlate by business key or variables",
                )
            )


def _check_call_mappings(root, problems: list[Problem]) -> None:
    """A call activity runs the called process inside the same case, sharing every variable both ways —
    Camunda's ``camunda:in/out variables="all"`` — and the case's business key. Mappings of single
    variables (``source``/``target``, ``sourceExpression``) would be silently ignored: refused."""
    for call in root.iter(f"{_B}callActivity"):
        for tag in ("in", "out"):
            for el in call.iterfind(f"{_B}extensionElements/{_C}{tag}"):
                if el.get("variables") == "all" and not (el.get("source") or el.get("sourceExpression")):
                    continue
                if tag == "in" and el.get("businessKey") is not None and len(el.attrib) == 1:
                    continue
                problems.append(
                    Problem(
                        call.get("id"),
                        f"camunda:{tag} mappings of single variables are not supported: a call activity "
                        'shares all variables both ways (camunda:in/out variables="all") and the business key',
                    )
                )
                break


def _check_script_tasks(root, problems: list[Problem]) -> None:
    for task in root.iter(f"{_B}scriptTask"):
        if task.get(f"{_C}resultVariable") is not None:  # SpiffWorkflow ignores it: the variable never comes
            problems.append(
                Problem(
                    task.get("id"),
                    "camunda:resultVariable is not supported on script tasks; assign the variable in the script",
                )
            )
        if task.get(f"{_C}resource") is not None:
            problems.append(
                Problem(
                    task.get("id"), "external scripts (camunda:resource) are not supported; inline the script"
                )
            )


def _check_forms(root, problems: list[Problem]) -> None:
    """A Camunda Form (``camunda:formRef``) lives in a .form file Delaktig cannot show, and its fields would
    never be asked for. A ``camunda:formKey`` is kept: it names a form another system shows (Camunda 7
    clients read it from ``GET /task/{id}/form``); the staff pages say so on the task."""
    for el in root.iter(f"{_B}userTask", f"{_B}startEvent"):
        for attr in ("formRef", "formRefBinding", "formRefVersion"):
            if el.get(f"{_C}{attr}") is not None:
                problems.append(
                    Problem(
                        el.get("id"),
                        f"camunda:{attr}: Camunda Forms (.form files) are not supported; use a generated "
                        "form (form fields, camunda:formData), or camunda:formKey for a form shown by "
                        "another system",
                    )
                )
                break
        key = el.get(f"{_C}formKey")
        if key is not None and (not key.strip() or len(key) > 500):
            problems.append(Problem(el.get("id"), "camunda:formKey must be 1–500 characters"))


def _drop_data_associations(root) -> None:
    """Data objects and data stores are documentation in Camunda 7. SpiffWorkflow moves a variable named
    like the data object in and out of tasks through these associations, and fails when the task ends
    without one; the diagram keeps its data objects, the engine ignores them."""
    for tag in ("dataInputAssociation", "dataOutputAssociation"):
        for el in list(root.iter(f"{_B}{tag}")):
            el.getparent().remove(el)


def _form_domains(process) -> dict[str, list[Any]]:
    domains: dict[str, list[Any]] = {}
    for f in process.iter(f"{_C}formField"):
        if f.get("type") == "boolean":
            domains[f.get("id")] = [True, False]
        elif f.get("type") == "enum":
            domains[f.get("id")] = [v.get("id") for v in f.iterfind(f"{_C}value")]
    return domains


_LITERAL = re.compile(
    r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\b\d+(?:\.\d+)?\b|\bTrue\b|\bFalse\b|\bNone\b"""
)
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
_RESERVED = {"and", "or", "not", "in", "is", "True", "False", "None", "len", "if", "else", *RUNTIME}


def _check_gateway(gw, flows, enum_domains, problems: list[Problem]) -> None:
    outgoing = [
        flows[o.text.strip()] for o in gw.iterfind(f"{_B}outgoing") if o.text and o.text.strip() in flows
    ]
    if not outgoing:
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gw.get("id")]
    conditions = [f.find(f"{_B}conditionExpression") for f in outgoing]
    if not outgoing or gw.get("default") is not None:  # (both checked in _check_flow_nodes)
        return
    if len(outgoing) == 1 and conditions[0] is None:  # a merge, or a plain pass
        return
    if any(c is None for c in conditions):
        missing = [f.get("id") for f, c in zip(outgoing, conditions, strict=True) if c is None]
        problems.append(
            Problem(
                gw.get("id"),
                f"outgoing flows {', '.join(missing)} have no condition and the gateway has no default flow",
            )
        )
        return
    exprs = [(c.text or "").strip() for c in conditions]
    if not _conditions_cover(exprs, enum_domains):
        problems.append(
            Problem(
                gw.get("id"),
                "the gateway has no default flow and its conditions do not cover every case; "
                "add a default flow (a case would otherwise stop here)",
            )
        )


_BARE_VARIABLE = re.compile(r"^[$#]\{\s*(?:!|not\s+)?\s*([A-Za-z_]\w*)\s*\}$")


def _check_text_conditions(flows, enum_domains, problems: list[Problem]) -> None:
    """``${godkand}`` over an enum form field: its value is always a text ('true', 'ja'), never a Boolean,
    so the condition would fail every case that reaches it ("condition expression returns non-Boolean"
    in Camunda). Refused with the fix."""
    for f in flows:
        expr = f.find(f"{_B}conditionExpression")
        if expr is None:
            continue
        m = _BARE_VARIABLE.match(original_expression((expr.text or "").strip()).strip())
        domain = enum_domains.get(m.group(1)) if m else None
        if domain and all(isinstance(v, str) for v in domain):
            name, value = m.group(1), domain[0]
            problems.append(
                Problem(
                    f.get("id"),
                    f"the condition reads the enum form field {name!r} as a Boolean, but its value is "
                    f"always a text ({', '.join(map(repr, domain))}): write ${{{name} == {value!r}}}",
                )
            )


def _conditions_cover(exprs: list[str], enum_domains: dict[str, list[Any]]) -> bool:
    """Enumerate the values each variable can take (form booleans/enums, else the literals it is compared
    with plus "something else" and None) and check that some condition holds for every combination."""
    names: set[str] = set()
    literals: list[Any] = []
    for expr in map(without_condition_check, exprs):  # (the flow id in the check is not a value)
        stripped = _LITERAL.sub(" ", expr)
        names |= {n for n in _NAME.findall(stripped) if n not in _RESERVED}
        for lit in _LITERAL.findall(expr):
            try:
                literals.append(eval(lit, {"__builtins__": {}}))  # noqa: S307 - a single literal token
            except Exception:  # noqa: BLE001
                pass
    domains = []
    for name in sorted(names):
        domain = enum_domains.get(name)
        if domain is None:
            domain = list(dict.fromkeys([*literals, object(), None, True, False, 0]))
        domains.append(domain)
    combos = 1
    for d in domains:
        combos *= len(d)
    if combos > MAX_COVERAGE_COMBINATIONS:
        return False
    env = SandboxedEnvironment()
    for values in itertools.product(*domains):
        context = dict(zip(sorted(names), values, strict=True))
        outcomes = [_truth(env, e, context) for e in exprs]
        # Uncovered: every condition cleanly false. One that fails for these values (an object compared
        # with a number) refuses the step at run time with that error, as Camunda does: not a silent stop.
        if True not in outcomes and None not in outcomes:
            return False
    return True


def _truth(env, expr: str, context: dict[str, Any]) -> bool | None:
    """The condition's truth for these values; None when it fails for them."""
    try:
        return bool(env.evaluate(expr, dict(context)))
    except Exception:  # noqa: BLE001 - any failure of diagram code is the answer here
        return None


def missing_di(root) -> list[Problem]:
    """Flow nodes, lanes, participants without a BPMNShape; sequence flows without a BPMNEdge."""
    drawn = {
        el.get("bpmnElement")
        for el in root.iter(f"{{{NSMAP['bpmndi']}}}BPMNShape", f"{{{NSMAP['bpmndi']}}}BPMNEdge")
    }
    problems = []
    skip = {
        "laneSet",
        "process",
        "collaboration",
        "definitions",
        "extensionElements",
        "incoming",
        "outgoing",
        "flowNodeRef",
        "conditionExpression",
        "documentation",
        "timerEventDefinition",
        "messageEventDefinition",
        "message",
        "timeDuration",
        "timeDate",
        "timeCycle",
        "script",
        "text",
        "signal",
        "error",
        "escalation",
        "errorEventDefinition",
        "signalEventDefinition",
        "terminateEventDefinition",
        "escalationEventDefinition",
        "multiInstanceLoopCharacteristics",
        "loopCardinality",
        "completionCondition",
        "category",
        "categoryValue",
        "dataObject",
        "property",
        "ioSpecification",
        "dataInput",
        "dataOutput",
        "inputSet",
        "outputSet",
        "linkEventDefinition",
        "conditionalEventDefinition",
        "condition",
        "standardLoopCharacteristics",
        "compensateEventDefinition",
        "childLaneSet",
        "dataInputAssociation",
        "dataOutputAssociation",
        "sourceRef",
        "targetRef",
        "association",
        "group",
        "textAnnotation",
        "messageFlow",
    }
    for el in root.iter(f"{_B}*"):
        local = etree.QName(el).localname
        if local in skip or not el.get("id") or el.get(_IMPLICIT):
            continue
        if el.get("id") not in drawn:
            problems.append(Problem(el.get("id"), f"bpmn:{local} has no diagram shape/edge (BPMN DI)"))
    return problems


def compile_bpmn(data: bytes, filename: str = "diagram.bpmn") -> Compiled:
    """Parse, translate and validate. ``Compiled.problems`` lists every error; callers refuse if any."""
    root = parse_bpmn_xml(data, filename)
    result = Compiled(filename=filename, root=root)
    problems = result.problems
    executable = [
        p for p in root.iterfind(f"{_B}process") if p.get("isExecutable", "false").lower() == "true"
    ]
    if not executable:
        problems.append(Problem(filename, 'no executable process (set isExecutable="true" on the process)'))
        return result
    # Camunda 7 runs only the executable processes and deploys the rest as drawn: a pool sketched for
    # documentation ("Medborgaren") is neither checked nor parsed. (The stored diagram keeps it.)
    for process in root.iterfind(f"{_B}process"):
        if process not in executable:
            root.remove(process)
    _normalise_flow_refs(root)
    # Links first, while an event subprocess is still its own scope (Camunda pairs links per scope; the
    # rewrite below moves an event subprocess's steps into its parent's scope).
    rewrite_links(root, problems)
    _check_input_output(root, problems)  # (before an event subprocess is rewritten into a boundary event)
    # Before every check: what the rest sees of an event subprocess is the boundary event it runs as (its
    # start event's id), so an interrupting timeCycle is read as the boundary timer's, below.
    rewrite_event_subprocesses(root, problems)
    _normalise_flow_refs(root)
    _interrupting_cycles(root, problems)
    _translate(root, problems)
    _check_structure(root, problems)
    _check_supported(root, problems)
    _check_camunda_details(root, problems)
    _check_flow_nodes(root, problems)
    _check_call_activities(root, executable, problems)
    _check_message_names(root, problems)
    _drop_data_associations(root)
    messages = {m.get("id"): m.get("name") or m.get("id") for m in root.iterfind(f"{_B}message")}
    signals = signal_names(root)
    for process in executable:
        pid = process.get("id")
        result.process_ids.append(pid)
        result.names[pid] = process.get("name")
        starts = []
        for ev in process.iterfind(f"{_B}startEvent"):
            md = ev.find(f"{_B}messageEventDefinition")
            if md is not None and md.get("messageRef") in messages:
                starts.append(messages[md.get("messageRef")])
        result.message_starts[pid] = starts
        result.signal_starts[pid] = sorted(
            {
                signals[sd.get("signalRef")]
                for ev in process.iterfind(f"{_B}startEvent")
                for sd in ev.iterfind(f"{_B}signalEventDefinition")
                if sd.get("signalRef") in signals
            }
        )
    if problems:
        return result
    parser = DelaktigParser()
    _implicit_gateways(root)
    try:
        parser.add_bpmn_xml(root, filename=filename)
        for pid in result.process_ids:
            parser.get_spec(pid)
            parser.get_subprocess_specs(pid)
    except ValidationException as err:
        problems.append(Problem(getattr(err, "id", None) or filename, _spiff_message(err)))
        return result
    except SpiffWorkflowException as err:
        problems.append(Problem(filename, _spiff_message(err)))
        return result
    except NotImplementedError as err:  # SpiffWorkflow's word for a construct it has no spec for
        problems.append(Problem(filename, f"a BPMN construct SpiffWorkflow cannot run: {str(err)[:200]}"))
        return result
    result.parser = parser
    return result


_IMPLICIT = IMPLICIT  # marks what _implicit_gateways and event_subprocesses added (no DI expected)
_GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}


IMPLIED_SPLIT = "__split"  # the id suffix of an implied gateway: errors name the element it follows


def _implicit_gateways(root) -> None:
    """Camunda 7 lets an activity have several outgoing flows: those without a condition are always
    taken, conditional ones when their condition holds, the activity's ``default`` flow when none does.
    Without conditions the parser connects them all (``parser._SplitMixin``); with conditions the parsed
    copy gets the inclusive gateway Camunda implies, right after the element (SpiffWorkflow would refuse
    "Multiple outgoing flows are not supported"). The stored diagram stays as drawn."""
    for scope in root.iter(f"{_B}process", f"{_B}subProcess", f"{_B}transaction"):
        flows = list(scope.iterfind(f"{_B}sequenceFlow"))
        for node in [el for el in scope if el.get("id")]:
            local = etree.QName(node).localname
            if local in _GATEWAYS or local in ("sequenceFlow", "laneSet") or local.startswith("data"):
                continue
            out = [f for f in flows if f.get("sourceRef") == node.get("id")]
            if len(out) < 2:
                continue
            conditional = node.get("default") is not None or any(
                f.find(f"{_B}conditionExpression") is not None for f in out
            )
            if not conditional:
                continue  # a plain parallel split: the parser connects every flow (parser._SplitMixin)
            gid, fid = f"{node.get('id')}{IMPLIED_SPLIT}", f"{node.get('id')}__to_split"
            gateway = etree.Element(f"{_B}inclusiveGateway", id=gid)
            gateway.set(_IMPLICIT, "true")
            if node.get("default") is not None:
                gateway.set("default", node.attrib.pop("default"))
            link = etree.Element(f"{_B}sequenceFlow", id=fid, sourceRef=node.get("id"), targetRef=gid)
            link.set(_IMPLICIT, "true")
            for ref in list(node.iterfind(f"{_B}outgoing")):
                node.remove(ref)
            etree.SubElement(node, f"{_B}outgoing").text = fid
            etree.SubElement(gateway, f"{_B}incoming").text = fid
            for f in out:
                f.set("sourceRef", gid)
                etree.SubElement(gateway, f"{_B}outgoing").text = f.get("id")
                if f.find(f"{_B}conditionExpression") is None and f.get("id") != gateway.get("default"):
                    # Camunda always takes a flow without a condition; the inclusive gateway wants one.
                    always = etree.SubElement(f, f"{_B}conditionExpression")
                    always.text = "True"
            node.addnext(gateway)
            gateway.addnext(link)


def _spiff_message(err: Exception) -> str:
    return str(getattr(err, "error_msg", None) or err).strip()


def compile_or_raise(data: bytes, filename: str = "diagram.bpmn") -> Compiled:
    compiled = compile_bpmn(data, filename)
    if compiled.problems:
        raise ValidationFailed(
            compiled.problems, f"{filename}: the diagram has {len(compiled.problems)} error(s)"
        )
    return compiled

"""Event subprocesses (``<bpmn:subProcess triggeredByEvent="true">``) run as boundary events, as Camunda 7
runs them.

SpiffWorkflow 3.2 parses event subprocesses but does not run them as BPMN says: an interrupting one
interrupted nothing (the steps it should end stayed open), a message one inside an embedded subprocess
never received its message, and one with a timer kept the case from ending. What it runs well — and
Delaktig has hardened — are boundary events on an embedded subprocess. So the parsed copy of a diagram
(the stored diagram stays as drawn) gets, for a scope (the process, or an embedded subprocess) with event
subprocesses:

- the scope's own start event stays where it is (a message start, ``camunda:initiator``, the audit's
  start event); everything else of the scope's flow moves into a synthetic embedded subprocess
  ``<scope>__main`` that the start event leads to, with a none start event of its own;
- each event subprocess's start event becomes a boundary event with the same id and event definition:
  interrupting (``isInterrupting``, the default) or not, on ``<scope>__main``; the event subprocess's
  other elements move beside it, into the scope: they share the scope's variables, as in Camunda;
- with both kinds in one scope, ``<scope>__main`` and the non-interrupting ones' steps go into one more
  synthetic subprocess ``<scope>__scope`` that carries the interrupting boundary events: an interrupting
  event subprocess ends the steps a non-interrupting one started too, as in Camunda.

Refused, naming the element: an event subprocess inside an event subprocess, in a transaction or ad-hoc
subprocess, in a scope with more than one start event, without exactly one start event with one event
definition (message, timer, signal, error or escalation), a non-interrupting error start event (Camunda 7
refuses it too), a terminate end event in a non-interrupting one (it would end the whole scope, not
the one event subprocess) or in the flow of a scope with a non-interrupting one (it would end only
``__main``), a message start event whose message something else awaits while it listens (one delivery
would reach both), and an error or escalation thrown in an interrupting one that an event subprocess of
the same scope would catch in Camunda (its steps run outside that one's boundary event). Links are paired
before this rewrite (compile), while each event subprocess is still a scope of its own.
"""

from __future__ import annotations

import copy
import re

from lxml import etree

from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS, IMPLICIT
from engine.errors import Problem

_B = f"{{{BPMN_NS}}}"
MAIN = "__main"  # id suffix of the synthetic subprocess holding a scope's own flow
SCOPE = "__scope"  # id suffix of the one around it and the non-interrupting event subprocesses' steps

_KINDS = {
    "messageEventDefinition": "message",
    "timerEventDefinition": "timer",
    "signalEventDefinition": "signal",
    "errorEventDefinition": "error",
    "escalationEventDefinition": "escalation",
}
_FLOW = {
    "task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "manualTask",
    "businessRuleTask", "callActivity", "subProcess", "adHocSubProcess", "transaction", "exclusiveGateway",
    "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "endEvent", "startEvent", "sequenceFlow",
}  # fmt: skip


# Camunda extensions on the event subprocess element itself that Camunda would run and the compiler refuses
# (compile._UNSUPPORTED): the rewrite would remove the element before those checks, dropping them
# silently, so such an event subprocess is left as drawn, for the compiler to refuse naming it.
_REFUSED_ON_IT = frozenset({"inputOutput", "executionListener", "connector"})


def is_event_subprocess(el) -> bool:
    return etree.QName(el).localname == "subProcess" and el.get("triggeredByEvent", "").strip() == "true"


_SYNTHETIC = re.compile(rf"({MAIN}|{SCOPE})(_start|_in|_done|_end)?$")


def is_synthetic(bpmn_id: str | None) -> bool:
    """Whether an element id is one this module made up (no such element in the drawn diagram)."""
    return bool(bpmn_id and _SYNTHETIC.search(bpmn_id))


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _interrupting(start) -> bool:
    return start.get("isInterrupting", "true").strip().lower() != "false"


def _check(scope, esp, problems: list[Problem]) -> bool:
    """Whether ``esp`` can run as a boundary event; a Problem naming the element when not."""
    before = len(problems)
    kind = _local(scope)
    if kind in ("transaction", "adHocSubProcess") or (kind == "subProcess" and is_event_subprocess(scope)):
        where = {"transaction": "a transaction", "adHocSubProcess": "an ad-hoc subprocess"}
        problems.append(
            Problem(
                esp.get("id"),
                f"an event subprocess inside {where.get(kind, 'an event subprocess')} is not supported; "
                "draw it in the process or in an embedded subprocess",
            )
        )
    if any(_local(ext) in _REFUSED_ON_IT for ext in esp.iterfind(f"{_B}extensionElements/{{{CAMUNDA_NS}}}*")):
        return False  # (not rewritten: the compiler's check names the event subprocess)
    starts = [el for el in esp if _local(el) == "startEvent"]
    definitions = [c for c in starts[0] if _local(c).endswith("EventDefinition")] if len(starts) == 1 else []
    if len(starts) != 1 or len(definitions) != 1 or _local(definitions[0]) not in _KINDS:
        problems.append(
            Problem(
                esp.get("id"),
                "an event subprocess needs exactly one start event with one message, timer, signal, error "
                "or escalation event definition (Camunda 7 refuses the others too, or Delaktig runs none)",
            )
        )
        return False
    start, interrupting = starts[0], _interrupting(starts[0])
    if _KINDS[_local(definitions[0])] == "error" and not interrupting:
        problems.append(
            Problem(start.get("id"), "an error start event is always interrupting (Camunda 7 refuses it)")
        )
    scope_starts = [el for el in scope if _local(el) == "startEvent"]
    if not scope_starts:
        problems.append(
            Problem(esp.get("id"), f"{scope.get('id')}, where the event subprocess is, has no start event")
        )
    elif len(scope_starts) > 1:
        problems.append(
            Problem(
                esp.get("id"),
                f"an event subprocess in a scope with {len(scope_starts)} start events "
                f"({', '.join(s.get('id') for s in scope_starts)}) is not supported: Delaktig could not "
                "tell which one the case began at; keep one start event there",
            )
        )
    if not interrupting:
        for end in esp.iter(f"{_B}endEvent"):
            if end.find(f"{_B}terminateEventDefinition") is not None:
                problems.append(
                    Problem(
                        end.get("id"),
                        "a terminate end event in a non-interrupting event subprocess is not supported: it "
                        "would end every step of its scope, not only the event subprocess; use a none end "
                        "event",
                    )
                )
    return len(problems) == before


_CODES = {"error": ("errorRef", "errorCode"), "escalation": ("escalationRef", "escalationCode")}


def _code(definition, kind: str) -> str | None:
    """The error/escalation code ``definition`` throws or catches (None: catches every one)."""
    ref_attr, code_attr = _CODES[kind]
    ref = definition.get(ref_attr)
    if not ref:
        return None
    target = next((el for el in definition.getroottree().iter(f"{_B}{kind}") if el.get("id") == ref), None)
    return (target.get(code_attr) if target is not None else None) or ref


def _check_thrown_past(scope, esps: list, problems: list[Problem]) -> bool:
    """An interrupting event subprocess's steps run beside ``<scope>__main`` (or ``__scope``), outside the
    boundary events an error or escalation event subprocess of the same scope became: an error or
    escalation thrown there went uncaught (the case just ended), where Camunda 7 lets that event
    subprocess catch it. Refused, naming the throwing event."""
    handlers = {kind: [] for kind in _CODES}
    for esp in esps:
        start = next(el for el in esp if _local(el) == "startEvent")
        for kind in _CODES:
            for definition in start.iterfind(f"{_B}{kind}EventDefinition"):
                handlers[kind].append((_code(definition, kind), esp.get("id")))
    before = len(problems)
    for esp in esps:
        if not _interrupting(next(el for el in esp if _local(el) == "startEvent")):
            continue  # (its steps are inside ``__scope``, where the handlers' boundary events are)
        for kind, catchers in handlers.items():
            for definition in esp.iter(f"{_B}{kind}EventDefinition"):
                thrower = definition.getparent()
                if (
                    _local(thrower) not in ("endEvent", "intermediateThrowEvent")
                    or thrower.getparent() is not esp
                ):
                    continue
                code = _code(definition, kind)
                others = [c for cc, c in catchers if (cc is None or cc == code) and c != esp.get("id")]
                catcher = others[0] if others else None
                if catcher is not None:
                    problems.append(
                        Problem(
                            thrower.get("id"),
                            f"the {kind} thrown here, in the interrupting event subprocess {esp.get('id')}, would "
                            f"not reach the {kind} event subprocess {catcher} of the same scope (Camunda 7 lets it "
                            "catch it): draw its handling inside this event subprocess",
                        )
                    )
    return len(problems) == before


def _check_terminate(scope, esps: list, problems: list[Problem]) -> bool:
    """A terminate end event of the scope's own flow runs inside ``<scope>__main`` and would end only that:
    the steps a non-interrupting event subprocess started would go on, where Camunda ends them with the
    scope. Refused, naming the end event."""
    if all(_interrupting(next(el for el in e if _local(el) == "startEvent")) for e in esps):
        return True  # nothing runs beside the flow: ending ``__main`` ends the scope
    ends = [
        el
        for el in scope
        if _local(el) == "endEvent" and el.find(f"{_B}terminateEventDefinition") is not None
    ]
    for end in ends:
        problems.append(
            Problem(
                end.get("id"),
                "a terminate end event in the flow of a scope with a non-interrupting event subprocess is not "
                "supported: it would leave the steps the event subprocess started running (Camunda 7 ends "
                "them); use a none end event, or make the event subprocess interrupting",
            )
        )
    return not ends


def _message_catchers(process, names: dict) -> list[tuple[str, object]]:
    """(message name, element) of every element of ``process`` that waits for a message, but the
    process's own start events (they start new cases) and throw events."""
    found = []
    for el in process.iter(f"{_B}messageEventDefinition", f"{_B}receiveTask"):
        owner = el if _local(el) == "receiveTask" else el.getparent()
        if _local(owner) in ("intermediateThrowEvent", "endEvent") or (
            _local(owner) == "startEvent" and owner.getparent() is process
        ):
            continue
        ref = el.get("messageRef")
        if ref:
            found.append((names.get(ref, ref), owner))
    return found


def _ids(el) -> set:
    return {x.get("id") for x in el.iter() if isinstance(x.tag, str) and x.get("id")}


def _around(inner, processes: dict, seen: set) -> set:
    """Ids of the boundary events on ``inner`` and on every scope enclosing it, and of the start events of
    those scopes' event subprocesses: they listen while ``inner`` runs. A process runs inside the call
    activities that call it (the called process runs in the same case), so theirs count too."""
    ids: set = set()
    while inner is not None and _local(inner) != "process":
        outer = inner.getparent()
        for el in outer if outer is not None else ():
            if _local(el) == "boundaryEvent" and el.get("attachedToRef") == inner.get("id"):
                ids.add(el.get("id"))
            elif is_event_subprocess(el):
                ids |= {s.get("id") for s in el if _local(s) == "startEvent"}
        inner = outer
    for call in processes["callers"].get(inner.get("id") if inner is not None else None, []):
        if call.get("id") not in seen:
            seen.add(call.get("id"))
            ids |= _around(call, processes, seen)
    return ids


def _inside(scope, processes: dict, seen: set) -> set:
    """Ids of everything inside ``scope``, with the processes its call activities call."""
    ids = _ids(scope)
    for call in scope.iter(f"{_B}callActivity"):
        called = processes["by_id"].get(call.get("calledElement"))
        if called is not None and called.get("id") not in seen:
            seen.add(called.get("id"))
            ids |= _inside(called, processes, seen)
    return ids


def _while_listening(esp, processes: dict) -> set:
    """Ids of what may wait for a message while ``esp``'s subscription lives: everything inside the scope
    it is drawn in (and in the processes its call activities call), and around that scope the boundary
    events and event subprocesses of the scopes enclosing it (up through the call activities that call
    its process). A catch event before or after the scope, or in another scope, never waits at the same
    time: a withdrawal event subprocess in each of two phases is fine. Nor does one in the steps of an
    interrupting event subprocess of the scope: once that one has started, the scope's event
    subprocesses listen no more."""
    scope = esp.getparent()
    ids = _inside(scope, processes, set())
    for other in scope:
        if is_event_subprocess(other):
            start = next((el for el in other if _local(el) == "startEvent"), None)
            if start is not None and _interrupting(start):
                ids -= _ids(other) - {start.get("id")}
    return ids | _around(scope, processes, set())


def _check_shared_messages(root, problems: list[Problem]) -> None:
    """An event subprocess's message also awaited by something that may wait at the same time (above): one
    delivery would reach both (every waiting element of a case catches it), with one audit row; Camunda 7
    refuses to correlate such a message to one of them ("2 executions match"). Refused, naming both."""
    names = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(f"{_B}message")}
    by_id = {p.get("id"): p for p in root.iterfind(f"{_B}process")}
    callers: dict = {}
    for call in root.iter(f"{_B}callActivity"):
        callers.setdefault(call.get("calledElement"), []).append(call)
    processes = {"by_id": by_id, "callers": callers}
    catchers = [found for process in by_id.values() for found in _message_catchers(process, names)]
    for name, owner in catchers:
        esp = owner.getparent()
        if _local(owner) != "startEvent" or esp is None or not is_event_subprocess(esp):
            continue
        meanwhile = _while_listening(esp, processes)
        others = [
            o.get("id") for n, o in catchers if n == name and o is not owner and o.get("id") in meanwhile
        ]
        if others:
            problems.append(
                Problem(
                    owner.get("id"),
                    f"message {name!r} of this event subprocess is also awaited by {', '.join(others)} while "
                    "it listens: one message would reach both (Camunda 7 refuses to correlate it to one of "
                    "them); give each its own message",
                )
            )


def _element(tag: str, container, **attrs):
    el = etree.SubElement(container, f"{_B}{tag}", **attrs)
    el.set(IMPLICIT, "true")
    return el


def _wrap(scope, into_id: str, nodes: list) -> tuple:
    """Move ``nodes`` (flow elements of ``scope``) into a new synthetic subprocess ``into_id`` of
    ``scope``, reached from a none start event of its own; returns (the subprocess, its start event)."""
    sub = _element("subProcess", scope, id=into_id)
    start = _element("startEvent", sub, id=f"{into_id}_start")
    for node in nodes:
        sub.append(node)  # (lxml moves it)
    return sub, start


def _chain(container, source, target, fid: str) -> None:
    _element("sequenceFlow", container, id=fid, sourceRef=source.get("id"), targetRef=target.get("id"))


def _then_end(container, activity) -> None:
    end = _element("endEvent", container, id=f"{activity.get('id')}_end")
    _chain(container, activity, end, f"{activity.get('id')}_done")


def _as_boundary(esp, attached_to: str, container) -> None:
    """The event subprocess's start event becomes a boundary event on ``attached_to`` (same id, name and
    event definition); its other elements move into ``container``; the event subprocess goes."""
    start = next(el for el in esp if _local(el) == "startEvent")
    boundary = etree.Element(f"{_B}boundaryEvent", attrib=dict(start.attrib))
    boundary.attrib.pop("isInterrupting", None)
    boundary.set("attachedToRef", attached_to)
    boundary.set("cancelActivity", "true" if _interrupting(start) else "false")
    for child in start:
        boundary.append(copy.deepcopy(child))
    esp.replace(start, boundary)
    for el in list(esp):
        if _local(el) in _FLOW:
            container.append(el)
    esp.getparent().remove(esp)


def _rewrite(scope, esps: list) -> None:
    sid = scope.get("id")
    [start] = [el for el in scope if _local(el) == "startEvent"]
    main_nodes = [el for el in scope if _local(el) in _FLOW and el is not start and el not in esps]
    out_flows = [
        f for f in main_nodes if _local(f) == "sequenceFlow" and f.get("sourceRef") == start.get("id")
    ]
    interrupting = [e for e in esps if _interrupting(next(el for el in e if _local(el) == "startEvent"))]
    others = [e for e in esps if e not in interrupting]
    main, inner_start = _wrap(scope, f"{sid}{MAIN}", main_nodes)
    for flow in out_flows:  # the start event's flows now leave the subprocess's own start event
        flow.set("sourceRef", inner_start.get("id"))
    if start.get("default") is not None:
        inner_start.set("default", start.attrib.pop("default"))
    for ref in list(start.iterfind(f"{_B}outgoing")):  # (re-derived by the caller)
        start.remove(ref)
    outer = main
    if interrupting and others:  # one more level, so an interrupting one also ends the others' steps
        outer, outer_start = _wrap(scope, f"{sid}{SCOPE}", [main])
        _chain(outer, outer_start, main, f"{sid}{MAIN}_in")
        _then_end(outer, main)
    _chain(scope, start, outer, f"{sid}{MAIN}_in" if outer is main else f"{sid}{SCOPE}_in")
    _then_end(scope, outer)
    for esp in others:
        _as_boundary(esp, main.get("id"), main.getparent())
    for esp in interrupting:
        _as_boundary(esp, outer.get("id"), scope)


def rewrite_event_subprocesses(root, problems: list[Problem]) -> None:
    """Rewrite every scope's event subprocesses as boundary events (above); refuse what cannot run so.
    The caller re-derives ``bpmn:incoming``/``outgoing`` afterwards."""
    scopes = [
        el
        for el in root.iter(f"{_B}*")
        if _local(el) in ("process", "subProcess", "transaction", "adHocSubProcess")
    ]
    _check_shared_messages(root, problems)
    for scope in reversed(scopes):  # innermost first: an embedded subprocess is rewritten inside its scope
        esps = [el for el in scope if is_event_subprocess(el)]
        if not esps:
            continue
        checked = all([_check(scope, esp, problems) for esp in esps])  # (every one checked, each named)
        if checked and all(
            [_check_terminate(scope, esps, problems), _check_thrown_past(scope, esps, problems)]
        ):
            _rewrite(scope, esps)

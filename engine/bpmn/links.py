"""Link events: an intermediate link throw event goes on at the link catch event of the same name in the
same scope, as in Camunda 7 — a "go to" that lets a process owner avoid long crossing sequence flows.

SpiffWorkflow 3.2 has no link events. The parsed copy of a diagram (the stored diagram stays as drawn)
gets, for each link throw event, a sequence flow to its catch event; both events lose their link
definition and pass the flow on as none intermediate throw events (a catch event has no event to wait
for: a link is taken at once). Their ids stay, so the audit and the history name them as drawn.

Refused, naming the element, as Camunda 7's parser refuses them or a case would stop: a link event without
a name, two link catch events of one name in one scope, a throw event whose name no catch event in its
scope has (Camunda looks only in the throw event's own scope), a throw event with an outgoing flow, and a
catch event with an incoming one.
"""

from __future__ import annotations

from lxml import etree

from engine.bpmn.xml import BPMN_NS, IMPLICIT
from engine.errors import Problem

_B = f"{{{BPMN_NS}}}"
_SCOPES = ("process", "subProcess", "transaction", "adHocSubProcess")
LINK_SUFFIX = "__link"  # id suffix of the sequence flow a throw event gets to its catch event


def _name(event) -> str | None:
    definition = event.find(f"{_B}linkEventDefinition")
    if definition is None:
        return None
    return (definition.get("name") or "").strip()


def _links(scope, tag: str) -> list:
    return [e for e in scope.iterfind(f"{_B}{tag}") if _name(e) is not None]


def rewrite_links(root, problems: list[Problem]) -> None:
    """Turn every scope's link events into sequence flows (see the module's docstring)."""
    for scope in [s for tag in _SCOPES for s in root.iter(f"{_B}{tag}")]:
        throws, catches = _links(scope, "intermediateThrowEvent"), _links(scope, "intermediateCatchEvent")
        if not throws and not catches:
            continue
        flows = list(scope.iterfind(f"{_B}sequenceFlow"))
        targets: dict[str, object] = {}
        ok = True
        for catch in catches:
            name, cid = _name(catch), catch.get("id")
            if not name:
                problems.append(Problem(cid, _unnamed("catch", catch)))
                ok = False
            elif name in targets:
                problems.append(
                    Problem(
                        cid, f"two link catch events named {name!r} in one scope ({targets[name].get('id')})"
                    )
                )
                ok = False
            else:
                targets[name] = catch
            if any(f.get("targetRef") == cid for f in flows):
                problems.append(
                    Problem(cid, "a link catch event has no incoming sequence flow (its link leads to it)")
                )
                ok = False
        for throw in throws:
            name, tid = _name(throw), throw.get("id")
            if not name:
                problems.append(Problem(tid, _unnamed("throw", throw)))
                ok = False
            elif name not in targets:
                problems.append(Problem(tid, f"no link catch event named {name!r} in the same scope"))
                ok = False
            if any(f.get("sourceRef") == tid for f in flows):
                problems.append(
                    Problem(
                        tid,
                        "a link throw event has no outgoing sequence flow (it goes on at its catch event)",
                    )
                )
                ok = False
        if not ok:
            continue
        for catch in catches:
            _as_pass_through(catch)
        for throw in throws:
            catch = targets[_name(throw)]
            fid = f"{throw.get('id')}{LINK_SUFFIX}"
            flow = etree.Element(
                f"{_B}sequenceFlow", id=fid, sourceRef=throw.get("id"), targetRef=catch.get("id")
            )
            flow.set(IMPLICIT, "true")
            _as_pass_through(throw)
            etree.SubElement(throw, f"{_B}outgoing").text = fid
            _add_incoming(catch, fid)
            throw.addnext(flow)


def _unnamed(kind: str, event) -> str:
    """Camunda 7 pairs links by the link event definition's ``name`` only (Modeler: "Link name"), never by
    the event's own name, and refuses a link without one: say which name is missing where."""
    text = f"link {kind} event without a link name: set the name of its link event definition"
    label = (event.get("name") or "").strip()
    if label:
        text += f" (the event's own name {label!r} is not its link name; Camunda 7 refuses it too)"
    return text


def _as_pass_through(event) -> None:
    """A none intermediate throw event with the same id, name, documentation and flows."""
    event.remove(event.find(f"{_B}linkEventDefinition"))
    event.tag = f"{_B}intermediateThrowEvent"


def _add_incoming(event, fid: str) -> None:
    """``bpmn:incoming`` goes before ``bpmn:outgoing`` (the schema's order, which the parser may read)."""
    ref = etree.Element(f"{_B}incoming")
    ref.text = fid
    outgoing = event.find(f"{_B}outgoing")
    if outgoing is not None:
        outgoing.addprevious(ref)
    else:
        event.append(ref)

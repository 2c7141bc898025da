"""Every diagram in processes/: compiles and deploys with no problem, has complete DI, roles on every user
task, forms, Swedish names, and a README that names every user task and gateway."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from lxml import etree

from engine.bpmn.compile import compile_bpmn, missing_di
from tests.processes.walker import (
    GATEWAYS,
    PROCESSES,
    ROOT,
    B,
    C,
    Diagram,
    all_diagrams,
    assert_cannot_skip,
    parse,
)

DIAGRAMS = all_diagrams()
IDS = [str(p.relative_to(PROCESSES)) for p in DIAGRAMS]
DI = "http://www.omg.org/spec/BPMN/20100524/DI"
EXPECTED = {
    "hasselby-vallingby/intern_dialog.bpmn": "hv_intern_dialog",
    "hasselby-vallingby/extern_initiativ.bpmn": "hv_extern_initiativ",
    "hasselby-vallingby/revidering.bpmn": "hv_revidering",
    "haninge/dialog.bpmn": "haninge_dialog",
    "haninge/intake.bpmn": "haninge_intake",
    "haninge/policyuppfoljning.bpmn": "haninge_policyuppfoljning",
    "tomelilla/dialog.bpmn": "tomelilla_dialog",
    "lund/dialog.bpmn": "lund_dialog",
}
START_MESSAGES = {"initiativ_mottaget": "hv_extern_initiativ", "haninge_initiativ_mottaget": "haninge_intake"}
SWEDISH = re.compile(r"[åäöÅÄÖ]")


def _processes(root):
    return [p for p in root.iterfind(f"{{{B}}}process") if p.get("isExecutable") == "true"]


def _user_tasks(root):
    return [t for p in _processes(root) for t in p.iter(f"{{{B}}}userTask")]


def test_the_expected_routines_are_there():
    assert sorted(EXPECTED) == IDS
    for rel, key in EXPECTED.items():
        assert [p.get("id") for p in _processes(parse(PROCESSES / rel))] == [key]


@pytest.mark.parametrize("path", DIAGRAMS, ids=IDS)
def test_compiles_with_no_problem_and_complete_di(path):
    compiled = compile_bpmn(path.read_bytes(), path.name)
    assert compiled.problems == []
    assert missing_di(compiled.root) == []
    assert compiled.process_ids == [EXPECTED[str(path.relative_to(PROCESSES))]]
    # every shape/edge refers to something that exists
    ids = {el.get("id") for el in compiled.root.iter() if el.get("id")}
    refs = {el.get("bpmnElement") for el in compiled.root.iter(f"{{{DI}}}BPMNShape", f"{{{DI}}}BPMNEdge")}
    assert refs <= ids


@pytest.mark.parametrize("path", DIAGRAMS, ids=IDS)
def test_missing_di_fails_when_a_shape_or_edge_is_removed(path):
    """The DI check can fail: drop each kind of DI element in turn and the element is reported."""
    for tag, kind in ((f"{{{DI}}}BPMNShape", "userTask"), (f"{{{DI}}}BPMNEdge", "sequenceFlow")):
        root = parse(path)
        victim = next(
            el
            for el in root.iter(tag)
            if root.find(f".//{{{B}}}{kind}[@id='{el.get('bpmnElement')}']") is not None
        )
        element_id = victim.get("bpmnElement")
        victim.getparent().remove(victim)
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        problems = missing_di(compile_bpmn(data, path.name).root)
        assert [p.where for p in problems] == [element_id]
        assert "BPMN DI" in problems[0].message


@pytest.mark.parametrize("path", DIAGRAMS, ids=IDS)
def test_user_tasks_have_roles_lanes_forms_and_swedish_text(path):
    root = parse(path)
    tasks = _user_tasks(root)
    assert tasks
    for process in _processes(root):
        in_lanes: dict[str, list[str]] = {}
        for lane in process.iter(f"{{{B}}}lane"):
            lane_name = lane.get("name") or ""
            assert lane_name[:1].isupper() and not re.fullmatch(r"\w+_\w+", lane_name), lane.get("id")
            for ref in lane.iterfind(f"{{{B}}}flowNodeRef"):
                in_lanes.setdefault(ref.text, []).append(lane.get("id"))
        for task in process.iter(f"{{{B}}}userTask"):
            tid = task.get("id")
            groups = [g.strip() for g in (task.get(f"{{{C}}}candidateGroups") or "").split(",") if g.strip()]
            assert groups, f"{tid} has no camunda:candidateGroups"
            assert all(re.fullmatch(r"[a-z][a-z0-9_]*", g) for g in groups), groups
            assert len(in_lanes.get(tid, [])) == 1, f"{tid} is in lanes {in_lanes.get(tid)}"
            fields = task.findall(f".//{{{C}}}formData/{{{C}}}formField")
            reason = {
                p.get("name"): p.get("value")
                for p in task.findall(f"./{{{B}}}extensionElements//{{{C}}}property")
            }.get("noFormReason")
            assert fields or reason, f"{tid} has no form field and no documented reason"
            for f in fields:
                assert re.fullmatch(r"[a-z][a-z0-9_]*", f.get("id")), f.get("id")
                assert f.get("label") and f.get("label") != f.get("id"), f"{tid}.{f.get('id')} has no label"
            doc = task.find(f"{{{B}}}documentation")
            assert doc is not None and len(doc.text or "") > 20, f"{tid} has no instruction"


@pytest.mark.parametrize("path", DIAGRAMS, ids=IDS)
def test_swedish_names(path):
    root = parse(path)
    for process in _processes(root):
        assert process.get("name") and not re.fullmatch(r"[a-z_0-9]+", process.get("name"))
        for el in process:
            local = etree.QName(el).localname
            if local in ("sequenceFlow", "laneSet", "extensionElements", "documentation", "textAnnotation"):
                continue
            if local == "association":
                continue
            outgoing = [
                f for f in process.iterfind(f"{{{B}}}sequenceFlow") if f.get("sourceRef") == el.get("id")
            ]
            if local in GATEWAYS and len(outgoing) <= 1:
                continue  # a join needs no label
            name = el.get("name")
            assert name, f"{el.get('id')} ({local}) has no name"
            assert name != el.get("id") and not re.fullmatch(r"[A-Za-z]+_[A-Za-z_0-9]+", name), name
            if local in GATEWAYS:
                for f in outgoing:
                    assert f.get("name"), f"branch {f.get('id')} of {el.get('id')} has no label"
    names = " ".join(el.get("name") or "" for el in root.iter())
    assert SWEDISH.search(names)


@pytest.mark.parametrize("path", DIAGRAMS, ids=IDS)
def test_readme_names_every_user_task_and_gateway(path):
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    root = parse(path)
    wanted = [
        el.get("id")
        for p in _processes(root)
        for el in p.iter()
        if etree.QName(el).localname in ("userTask", *GATEWAYS)
    ]
    missing = [i for i in wanted if f"`{i}`" not in readme and i not in readme]
    assert not missing, f"{path.parent.name}/README.md does not mention {missing}"
    assert path.name in readme


def test_send_tasks_mail_someone_with_a_subject_and_body():
    for path in DIAGRAMS:
        for task in parse(path).iter(f"{{{B}}}sendTask"):
            props = {p.get("name"): p.get("value") for p in task.iter(f"{{{C}}}property")}
            assert re.fullmatch(r"(var|role):[a-z_]+", props.get("mailTo", "")), (path.name, task.get("id"))
            assert props.get("mailSubject"), (path.name, task.get("id"))
            assert (task.findtext(f"{{{B}}}documentation") or "").strip(), (path.name, task.get("id"))


def test_every_routine_deploys_and_each_start_message_starts_its_own_process(d):
    for path in DIAGRAMS:
        assert d.lint(path.read_bytes(), path.name) == []
        [info] = d.deploy(path.read_bytes(), path.name, "testare")
        assert info.key == EXPECTED[str(path.relative_to(PROCESSES))] and info.version == 1 and info.created
    for name, key in START_MESSAGES.items():
        [case] = d.deliver_message(name, {"initiator_email": "a@example.se", "kind": "synpunkt"})
        assert case.process_key == key and case.status == "active"


def test_cli_lint_strict_accepts_every_diagram():
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "lint", "--strict", *map(str, DIAGRAMS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": OK (") == len(DIAGRAMS)


def test_bypass_check_fails_on_a_shortcut_around_feedback():
    """assert_cannot_skip can fail: a flow from the dialogue straight to the end is found."""
    diagram = Diagram.load("lund/dialog.bpmn")
    assert_cannot_skip(diagram, {"EndEvent_genomford"}, {"Task_aterkoppla"})
    diagram.flows["Flow_genvag"] = ("Task_genomfora", "EndEvent_genomford")
    with pytest.raises(AssertionError, match="around"):
        assert_cannot_skip(diagram, {"EndEvent_genomford"}, {"Task_aterkoppla"})

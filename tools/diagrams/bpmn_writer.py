"""Small writer for Delaktig BPMN diagrams (Camunda 7 flavour) with generated BPMN DI.

Used by build_haninge.py, build_tomelilla.py and build_lund.py in this folder. A diagram is
described as lanes, flow nodes placed on a grid (column, row within the lane) and sequence flows;
the writer produces XML shaped like Camunda Modeler output: one collaboration with one participant,
a laneSet with a flowNodeRef for every node, and a BPMNShape / BPMNEdge for every element.

Layout rules: lanes are horizontal bands stacked top to bottom, nodes go left to right by column,
one node per (lane, row, column) cell, so shapes cannot overlap. Forward flows are drawn with
right-angled segments; flows back to an earlier column run along the top edge of the row band.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "modeler": "http://camunda.org/schema/modeler/1.0",
}

EXPORTER_VERSION = "5.31.0"
PLATFORM_VERSION = "7.21.0"

# Grid geometry (pixels)
PARTICIPANT_X = 160
PARTICIPANT_Y = 80
LANE_HEADER = 30  # participant name band left of the lanes
COL_W = 170  # column pitch
FIRST_COL_OFFSET = 100  # from lane left edge to first column centre
ROW_H = 140  # row pitch inside a lane
ANNOTATION_BAND = 70  # extra band at the top of a lane that carries text annotations
RIGHT_MARGIN = 110

SIZES = {
    "startEvent": (36, 36),
    "endEvent": (36, 36),
    "intermediateThrowEvent": (36, 36),
    "intermediateCatchEvent": (36, 36),
    "exclusiveGateway": (50, 50),
    "parallelGateway": (50, 50),
    "userTask": (100, 80),
    "sendTask": (100, 80),
    "manualTask": (100, 80),
    "task": (100, 80),
    "scriptTask": (100, 80),
}


def q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


@dataclass
class FormField:
    id: str
    label: str
    type: str = "string"  # string | long | boolean | date | enum
    required: bool = False
    values: list = field(default_factory=list)  # enum: [(id, name), ...]
    multiline: bool = False
    props: dict = field(default_factory=dict)  # extra camunda:property id -> value
    default: str | None = None
    readonly: bool = False
    min: int | None = None
    max: int | None = None
    minlength: int | None = None
    maxlength: int | None = None


def F(id, label, type="string", required=False, **kw) -> FormField:
    return FormField(id=id, label=label, type=type, required=required, **kw)


@dataclass
class Node:
    id: str
    kind: str
    name: str
    lane: str
    col: int
    row: int = 0
    doc: str | None = None
    groups: str | None = None
    fields: list = field(default_factory=list)
    due: str | None = None
    due_working_days: bool = False
    follow_up: str | None = None
    task_props: dict = field(default_factory=dict)  # camunda:property name -> value
    message: str | None = None  # message name for message events
    default: str | None = None  # default flow id (gateways)
    incoming: list = field(default_factory=list)
    outgoing: list = field(default_factory=list)
    script: str | None = None  # script tasks (python)
    # geometry (filled in by layout)
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0

    @property
    def cx(self):
        return self.x + self.w / 2

    @property
    def cy(self):
        return self.y + self.h / 2


@dataclass
class Flow:
    id: str
    src: str
    tgt: str
    name: str | None = None
    cond: str | None = None
    waypoints: list | None = None
    route: str = "auto"


@dataclass
class Annotation:
    id: str
    node: str
    text: str


class Diagram:
    def __init__(
        self,
        process_id,
        process_name,
        participant_name,
        definitions_id=None,
        process_doc=None,
        version_tag=None,
    ):
        self.process_id = process_id
        self.process_name = process_name
        self.participant_name = participant_name
        self.definitions_id = definitions_id or "Definitions_" + process_id
        self.process_doc = process_doc
        self.version_tag = version_tag
        self.lanes: list[tuple[str, str]] = []  # (lane id, name)
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self.annotations: list[Annotation] = []
        self.messages: dict[str, str] = {}  # message name -> id

    # ---------------------------------------------------------------- building
    def lane(self, lane_id, name):
        self.lanes.append((lane_id, name))
        return lane_id

    def _add(self, node: Node):
        if node.id in self.nodes:
            raise ValueError("duplicate id " + node.id)
        if node.lane not in {lane for lane, _ in self.lanes}:
            raise ValueError(f"unknown lane {node.lane} for {node.id}")
        for other in self.nodes.values():
            if (other.lane, other.row, other.col) == (node.lane, node.row, node.col):
                raise ValueError(f"cell taken: {other.id} and {node.id}")
        self.nodes[node.id] = node
        return node.id

    def start(self, id, name, lane, col, row=0, message=None, doc=None):
        if message:
            self.messages.setdefault(message, "Message_" + message)
        return self._add(Node(id, "startEvent", name, lane, col, row, doc=doc, message=message))

    def end(self, id, name, lane, col, row=0, doc=None):
        return self._add(Node(id, "endEvent", name, lane, col, row, doc=doc))

    def user(
        self,
        id,
        name,
        lane,
        col,
        groups,
        doc,
        fields,
        row=0,
        due=None,
        due_working_days=False,
        follow_up=None,
        props=None,
    ):
        if not groups:
            raise ValueError("user task without candidate groups: " + id)
        return self._add(
            Node(
                id,
                "userTask",
                name,
                lane,
                col,
                row,
                doc=doc,
                groups=groups,
                fields=list(fields),
                due=due,
                due_working_days=due_working_days,
                follow_up=follow_up,
                task_props=dict(props or {}),
            )
        )

    def send(self, id, name, lane, col, mail_to, subject, body, row=0):
        props = {"mailTo": mail_to, "mailSubject": subject}
        return self._add(Node(id, "sendTask", name, lane, col, row, doc=body, task_props=props))

    def script(self, id, name, lane, col, script, row=0, doc=None):
        n = Node(id, "scriptTask", name, lane, col, row, doc=doc)
        n.script = script
        return self._add(n)

    def xgw(self, id, name, lane, col, row=0, doc=None):
        return self._add(Node(id, "exclusiveGateway", name, lane, col, row, doc=doc))

    def flow(self, src, tgt, name=None, cond=None, id=None, default=False, waypoints=None, route="auto"):
        fid = id or f"Flow_{_short(src)}_{_short(tgt)}"
        if id is None and any(f.id == fid for f in self.flows):
            fid = f"Flow_{src}_{tgt}"
        if any(f.id == fid for f in self.flows):
            raise ValueError("duplicate flow id " + fid)
        f = Flow(fid, src, tgt, name, cond, waypoints, route)
        self.flows.append(f)
        self.nodes[src].outgoing.append(fid)
        self.nodes[tgt].incoming.append(fid)
        if default:
            if cond:
                raise ValueError("default flow with condition: " + fid)
            self.nodes[src].default = fid
        return fid

    def annotate(self, node_id, text, id=None):
        aid = id or "TextAnnotation_" + _short(node_id)
        self.annotations.append(Annotation(aid, node_id, text))

    # ---------------------------------------------------------------- checks
    def check(self):
        for n in self.nodes.values():
            if n.kind == "startEvent" and n.incoming:
                raise ValueError("start event with incoming flow: " + n.id)
            if n.kind == "endEvent" and n.outgoing:
                raise ValueError("end event with outgoing flow: " + n.id)
            if n.kind != "startEvent" and not n.incoming:
                raise ValueError("node without incoming flow: " + n.id)
            if n.kind != "endEvent" and not n.outgoing:
                raise ValueError("node without outgoing flow: " + n.id)
            if n.kind == "exclusiveGateway" and len(n.outgoing) > 1:
                conds = [f for f in self.flows if f.src == n.id and f.cond]
                if n.default is None and len(conds) != len(n.outgoing):
                    raise ValueError(f"gateway {n.id}: every outgoing flow needs a condition or a default")
                for f in self.flows:
                    if f.src == n.id and f.id != n.default and not f.cond:
                        raise ValueError(f"gateway {n.id}: flow {f.id} has no condition")
            if n.kind in ("userTask",):
                ids = [f.id for f in n.fields]
                if len(ids) != len(set(ids)):
                    raise ValueError("duplicate form field in " + n.id)
                for f in n.fields:
                    if not re.fullmatch(r"[a-z][a-z0-9_]*", f.id):
                        raise ValueError("field id not ascii snake_case: " + f.id)
        for nid in self.nodes:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", nid):
                raise ValueError("id not ascii: " + nid)

    # ---------------------------------------------------------------- layout
    def layout(self):
        lane_ids = [lane for lane, _ in self.lanes]
        max_col = max(n.col for n in self.nodes.values())
        annotated_lanes = {self.nodes[a.node].lane for a in self.annotations}
        self.lane_geom = {}
        y = PARTICIPANT_Y
        lane_x = PARTICIPANT_X + LANE_HEADER
        width = FIRST_COL_OFFSET + max_col * COL_W + 60 + RIGHT_MARGIN
        for lid in lane_ids:
            rows = max([n.row for n in self.nodes.values() if n.lane == lid] or [0]) + 1
            band = ANNOTATION_BAND if lid in annotated_lanes else 0
            h = band + rows * ROW_H
            self.lane_geom[lid] = dict(x=lane_x, y=y, w=width, h=h, band=band)
            y += h
        self.participant_geom = dict(
            x=PARTICIPANT_X, y=PARTICIPANT_Y, w=width + LANE_HEADER, h=y - PARTICIPANT_Y
        )
        for n in self.nodes.values():
            g = self.lane_geom[n.lane]
            w, h = SIZES[n.kind]
            cx = g["x"] + FIRST_COL_OFFSET + n.col * COL_W
            cy = g["y"] + g["band"] + n.row * ROW_H + ROW_H / 2
            n.w, n.h = w, h
            n.x, n.y = cx - w / 2, cy - h / 2
        for f in self.flows:
            if f.waypoints is None:
                f.waypoints = self._route(f)

    def _row_top(self, n):
        g = self.lane_geom[n.lane]
        return g["y"] + g["band"] + n.row * ROW_H

    def _route(self, f):
        a, b = self.nodes[f.src], self.nodes[f.tgt]
        a_gw = a.kind.endswith("Gateway")
        b_gw = b.kind.endswith("Gateway")
        if isinstance(f.route, tuple) and f.route[0] == "channel":
            # ("channel", lane_id, row, "top"|"bottom"): leave the source vertically, run along
            # a channel just inside the given row band, enter the target vertically.
            _, lane_id, row, edge = f.route
            g = self.lane_geom[lane_id]
            top = g["y"] + g["band"] + row * ROW_H
            ch = top + 12 if edge == "top" else top + ROW_H - 12
            ys = a.y + a.h if ch > a.cy else a.y
            ye = b.y + b.h if ch > b.cy else b.y
            return [(a.cx, ys), (a.cx, ch), (b.cx, ch), (b.cx, ye)]
        if f.route == "mid":  # right side out, vertical in the gap, left side in
            xm = b.x - 35 if b.col - a.col > 1 else (a.x + a.w + b.x) / 2
            return [(a.x + a.w, a.cy), (xm, a.cy), (xm, b.cy), (b.x, b.cy)]
        if f.route == "hv":  # horizontal first, then vertical into top/bottom of target
            ye = b.y if b.cy > a.cy else b.y + b.h
            return [(a.x + a.w, a.cy), (b.cx, a.cy), (b.cx, ye)]
        if b.col > a.col and f.route == "auto":
            if abs(a.cy - b.cy) < 1:
                return [(a.x + a.w, a.cy), (b.x, b.cy)]
            if a_gw:
                ys = a.y if b.cy < a.cy else a.y + a.h
                return [(a.cx, ys), (a.cx, b.cy), (b.x, b.cy)]
            if b_gw:
                ye = b.y + b.h if a.cy > b.cy else b.y
                return [(a.x + a.w, a.cy), (b.cx, a.cy), (b.cx, ye)]
            xm = b.x - 35 if b.col - a.col > 1 else (a.x + a.w + b.x) / 2
            return [(a.x + a.w, a.cy), (xm, a.cy), (xm, b.cy), (b.x, b.cy)]
        if b.col == a.col and f.route == "auto":
            if b.cy > a.cy:
                return [(a.cx, a.y + a.h), (b.cx, b.y)]
            return [(a.cx, a.y), (b.cx, b.y + b.h)]
        # backward flow
        if f.route == "below":
            ch = max(self._row_top(a), self._row_top(b)) + ROW_H - 8
            return [(a.cx, a.y + a.h), (a.cx, ch), (b.cx, ch), (b.cx, b.y + b.h)]
        ch = min(self._row_top(a), self._row_top(b)) + 10
        return [(a.cx, a.y), (a.cx, ch), (b.cx, ch), (b.cx, b.y)]

    # ---------------------------------------------------------------- XML
    def to_xml(self) -> str:
        self.check()
        self.layout()
        E = etree.Element
        S = etree.SubElement
        root = E(q("bpmn", "definitions"), nsmap=NS)
        root.set("id", self.definitions_id)
        root.set("targetNamespace", "http://bpmn.io/schema/bpmn")
        root.set("exporter", "Camunda Modeler")
        root.set("exporterVersion", EXPORTER_VERSION)
        root.set(q("modeler", "executionPlatform"), "Camunda Platform")
        root.set(q("modeler", "executionPlatformVersion"), PLATFORM_VERSION)

        collab_id = "Collaboration_" + self.process_id
        participant_id = "Participant_" + self.process_id
        collab = S(root, q("bpmn", "collaboration"), id=collab_id)
        S(
            collab,
            q("bpmn", "participant"),
            id=participant_id,
            name=self.participant_name,
            processRef=self.process_id,
        )

        proc = S(root, q("bpmn", "process"), id=self.process_id, name=self.process_name, isExecutable="true")
        if self.version_tag:
            proc.set(q("camunda", "versionTag"), self.version_tag)
        if self.process_doc:
            S(proc, q("bpmn", "documentation")).text = self.process_doc
        lane_set = S(proc, q("bpmn", "laneSet"), id="LaneSet_" + self.process_id)
        for lid, lname in self.lanes:
            lane = S(lane_set, q("bpmn", "lane"), id=lid, name=lname)
            for n in self.nodes.values():
                if n.lane == lid:
                    S(lane, q("bpmn", "flowNodeRef")).text = n.id

        for n in self.nodes.values():
            el = S(proc, q("bpmn", n.kind), id=n.id)
            if n.name:
                el.set("name", n.name)
            if n.kind == "userTask":
                el.set(q("camunda", "candidateGroups"), n.groups)
                if n.due:
                    el.set(q("camunda", "dueDate"), n.due)
                if n.follow_up:
                    el.set(q("camunda", "followUpDate"), n.follow_up)
            if n.kind == "exclusiveGateway" and n.default:
                el.set("default", n.default)
            if n.doc:
                S(el, q("bpmn", "documentation")).text = n.doc
            self._extensions(el, n)
            for fid in n.incoming:
                S(el, q("bpmn", "incoming")).text = fid
            for fid in n.outgoing:
                S(el, q("bpmn", "outgoing")).text = fid
            if n.kind == "scriptTask":
                el.set("scriptFormat", "python")
                S(el, q("bpmn", "script")).text = n.script
            if n.message:
                S(
                    el,
                    q("bpmn", "messageEventDefinition"),
                    id="MessageEventDefinition_" + _short(n.id),
                    messageRef=self.messages[n.message],
                )

        for f in self.flows:
            el = S(proc, q("bpmn", "sequenceFlow"), id=f.id)
            if f.name:
                el.set("name", f.name)
            el.set("sourceRef", f.src)
            el.set("targetRef", f.tgt)
            if f.cond:
                c = S(el, q("bpmn", "conditionExpression"))
                c.set(q("xsi", "type"), "bpmn:tFormalExpression")
                c.text = f.cond

        for a in self.annotations:
            ta = S(proc, q("bpmn", "textAnnotation"), id=a.id)
            S(ta, q("bpmn", "text")).text = a.text
        for a in self.annotations:
            S(
                proc,
                q("bpmn", "association"),
                id="Association_" + _short(a.node),
                associationDirection="None",
                sourceRef=a.node,
                targetRef=a.id,
            )

        for mname, mid in self.messages.items():
            S(root, q("bpmn", "message"), id=mid, name=mname)

        # ---- DI
        diagram = S(root, q("bpmndi", "BPMNDiagram"), id="BPMNDiagram_1")
        plane = S(diagram, q("bpmndi", "BPMNPlane"), id="BPMNPlane_1", bpmnElement=collab_id)

        def shape(elem_id, x, y, w, h, horizontal=False, label=None, extra=None):
            s = S(plane, q("bpmndi", "BPMNShape"), id=elem_id + "_di", bpmnElement=elem_id)
            if horizontal:
                s.set("isHorizontal", "true")
            for k, v in (extra or {}).items():
                s.set(k, v)
            S(s, q("dc", "Bounds"), x=_n(x), y=_n(y), width=_n(w), height=_n(h))
            if label:
                lab = S(s, q("bpmndi", "BPMNLabel"))
                S(
                    lab,
                    q("dc", "Bounds"),
                    x=_n(label[0]),
                    y=_n(label[1]),
                    width=_n(label[2]),
                    height=_n(label[3]),
                )
            return s

        pg = self.participant_geom
        shape(participant_id, pg["x"], pg["y"], pg["w"], pg["h"], horizontal=True)
        for lid, _ in reversed(self.lanes):
            g = self.lane_geom[lid]
            shape(lid, g["x"], g["y"], g["w"], g["h"], horizontal=True)
        for n in self.nodes.values():
            label = None
            if n.kind.endswith("Event") and n.name:
                lw = 100
                lh = 14 * max(1, min(4, -(-len(n.name) // 16)))
                label = (n.cx - lw / 2, n.y + n.h + 7, lw, lh)
            elif n.kind.endswith("Gateway") and n.name:
                lw = 120
                lines = max(1, min(3, -(-len(n.name) // 20)))
                lh = 14 * lines
                top_used = bottom_used = False
                for f in self.flows:
                    for pt in (f.waypoints[0], f.waypoints[-1]):
                        if f.src == n.id and pt is f.waypoints[-1] or f.tgt == n.id and pt is f.waypoints[0]:
                            continue
                        if abs(pt[0] - n.cx) < 1 and abs(pt[1] - n.y) < 1:
                            top_used = True
                        if abs(pt[0] - n.cx) < 1 and abs(pt[1] - n.y - n.h) < 1:
                            bottom_used = True
                if not top_used:
                    label = (n.cx - lw / 2, n.y - lh - 6, lw, lh)  # centred above
                elif not bottom_used:
                    label = (n.cx - lw / 2, n.y + n.h + 6, lw, lh)  # centred below
                else:
                    label = (n.x + n.w - 4, n.y - lh - 2, lw, lh)  # above right
            extra = {}
            if n.kind == "exclusiveGateway":
                extra["isMarkerVisible"] = "true"
            shape(n.id, n.x, n.y, n.w, n.h, label=label, extra=extra)
        for f in self.flows:
            e = S(plane, q("bpmndi", "BPMNEdge"), id=f.id + "_di", bpmnElement=f.id)
            for x, y in f.waypoints:
                S(e, q("di", "waypoint"), x=_n(x), y=_n(y))
            if f.name:
                (x0, y0), (x1, y1) = f.waypoints[0], f.waypoints[1]
                lw = max(20, 7 * len(f.name))
                src_gw = self.nodes[f.src].kind.endswith("Gateway")
                run = abs(f.waypoints[2][0] - f.waypoints[1][0]) if len(f.waypoints) >= 3 else 0
                if src_gw and abs(x0 - x1) < 1 and len(f.waypoints) >= 3 and run >= lw + 20:
                    # label at the bend, above the horizontal run (branches may share a trunk)
                    bx, by = f.waypoints[1]
                    nx = f.waypoints[2][0]
                    lab = (bx + 8 if nx > bx else bx - 8 - lw, by - 18, lw, 14)
                elif abs(x0 - x1) < 1:  # vertical first segment
                    lab = (x0 + 5, (y0 + y1) / 2 - 7 if abs(y1 - y0) > 30 else min(y0, y1) - 16, lw, 14)
                else:
                    lab = (min(x0, x1) + 6, y0 - 18, lw, 14)
                label = S(e, q("bpmndi", "BPMNLabel"))
                S(label, q("dc", "Bounds"), x=_n(lab[0]), y=_n(lab[1]), width=_n(lab[2]), height=_n(lab[3]))
        for a in self.annotations:
            n = self.nodes[a.node]
            g = self.lane_geom[n.lane]
            ax, ay, aw, ah = n.cx - 75, g["y"] + 8, 150, ANNOTATION_BAND - 18
            shape(a.id, ax, ay, aw, ah)
        for a in self.annotations:
            n = self.nodes[a.node]
            g = self.lane_geom[n.lane]
            e = S(
                plane,
                q("bpmndi", "BPMNEdge"),
                id="Association_" + _short(a.node) + "_di",
                bpmnElement="Association_" + _short(a.node),
            )
            S(e, q("di", "waypoint"), x=_n(n.cx), y=_n(g["y"] + ANNOTATION_BAND - 10))
            S(e, q("di", "waypoint"), x=_n(n.cx), y=_n(n.y))

        xml = etree.tostring(root, encoding="unicode", pretty_print=True)
        xml = re.sub(r"(\S)/>", r"\1 />", xml)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml

    def _extensions(self, el, n: Node):
        ext = None

        def ext_el():
            nonlocal ext
            if ext is None:
                ext = etree.SubElement(el, q("bpmn", "extensionElements"))
            return ext

        if n.kind == "userTask" and n.fields:
            fd = etree.SubElement(ext_el(), q("camunda", "formData"))
            for f in n.fields:
                ff = etree.SubElement(fd, q("camunda", "formField"), id=f.id, label=f.label, type=f.type)
                if f.default is not None:
                    ff.set("defaultValue", f.default)
                props = dict(f.props)
                if f.multiline:
                    props = {"multiline": "true", **props}
                if props:
                    ps = etree.SubElement(ff, q("camunda", "properties"))
                    for k, v in props.items():
                        etree.SubElement(ps, q("camunda", "property"), id=k, value=v)
                cons = []
                if f.required:
                    cons.append(("required", None))
                if f.readonly:
                    cons.append(("readonly", None))
                for cname in ("min", "max", "minlength", "maxlength"):
                    v = getattr(f, cname)
                    if v is not None:
                        cons.append((cname, str(v)))
                if cons:
                    val = etree.SubElement(ff, q("camunda", "validation"))
                    for cname, cfg in cons:
                        c = etree.SubElement(val, q("camunda", "constraint"), name=cname)
                        if cfg is not None:
                            c.set("config", cfg)
                if f.type == "enum":
                    if not f.values:
                        raise ValueError(f"enum without values: {n.id}.{f.id}")
                    for vid, vname in f.values:
                        etree.SubElement(ff, q("camunda", "value"), id=vid, name=vname)
        props = dict(n.task_props)
        if n.due_working_days:
            props["dueDateWorkingDays"] = "true"
        if props:
            ps = etree.SubElement(ext_el(), q("camunda", "properties"))
            for k, v in props.items():
                etree.SubElement(ps, q("camunda", "property"), name=k, value=v)


def _short(node_id: str) -> str:
    return re.sub(r"^(StartEvent|EndEvent|Task|Send|Script|Gw|Gateway|Event)_", "", node_id)


def _n(v) -> str:
    v = round(float(v))
    return str(int(v))


def write(diagram: Diagram, path: str):
    xml = diagram.to_xml()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(xml)
    return path

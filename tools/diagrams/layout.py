"""Write BPMN DI (shapes and edges) for a Camunda Modeler diagram with one pool and lanes.

    python tools/diagrams/layout.py processes/<routine>/<file>.bpmn [...]

The .bpmn file stays the source of truth: this tool only replaces its ``bpmndi:BPMNDiagram`` and
rewrites the file in Camunda Modeler's style (two-space indent, ``" />"``).  Run it after changing
the flow of a diagram whose layout has not been tuned by hand in the Modeler: it discards any
hand-made layout.

Layout rules, kept simple on purpose:

* Columns: a node's column is the longest path (in sequence flows) from a start event, ignoring flows
  that loop back.  Boundary events sit on their host's bottom edge; their targets start the next column.
* Rows: each lane has as many rows as it needs.  A node keeps the row of its predecessor in the same
  lane when that predecessor's *first* outgoing flow (document order) leads to it; any other branch
  moves down a row, and straight continuations get their cell before new branches.  So list the main
  path's flow first on each gateway.
* Edges are orthogonal.  For each flow a few candidate routes are tried in order and the first that
  crosses no other shape is kept (the first candidate is kept, with a warning, when all cross).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# Geometry (pixels).  Shapes are centred in a grid of COL_W x ROW_H cells.
POOL_X, POOL_Y = 160, 80
POOL_HEADER = 30  # the pool's name band; lanes start right of it
LANE_HEADER = 30  # the lane's name band
COL_W, ROW_H = 160, 130
FIRST_COL = POOL_X + POOL_HEADER + LANE_HEADER + 70  # centre x of column 0
DETOUR = 55  # distance below/above a row centre for routes around shapes (boxes are +-40)

SIZES = {  # local tag -> (width, height)
    "task": (100, 80),
    "event": (36, 36),
    "gateway": (50, 50),
}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
ACTIVITIES = {
    "task",
    "userTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "scriptTask",
    "manualTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
}


def kind_of(local: str) -> str | None:
    if local in EVENTS:
        return "event"
    if local in GATEWAYS:
        return "gateway"
    if local in ACTIVITIES:
        return "task"
    return None


@dataclass
class Node:
    id: str
    local: str  # the BPMN tag without namespace
    kind: str  # task / event / gateway
    name: str
    lane: int = 0
    rank: int = 0
    row: int = 0
    order: int = 0  # discovery order, used to break ties
    host: str | None = None  # boundary events only
    x: int = 0
    y: int = 0
    outgoing: list[str] = field(default_factory=list)  # flow ids in document order

    @property
    def w(self) -> int:
        return SIZES[self.kind][0]

    @property
    def h(self) -> int:
        return SIZES[self.kind][1]

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2

    def port(self, side: str) -> tuple[int, int]:
        return {
            "left": (self.x, self.cy),
            "right": (self.x + self.w, self.cy),
            "top": (self.cx, self.y),
            "bottom": (self.cx, self.y + self.h),
        }[side]


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str
    back: bool = False  # loops back against the main direction


class Diagram:
    def __init__(self, tree: etree._ElementTree):
        self.root = tree.getroot()
        self.collaboration = self.root.find(q(BPMN, "collaboration"))
        if self.collaboration is None:
            raise SystemExit("layout.py needs a bpmn:collaboration with one participant")
        self.participant = self.collaboration.find(q(BPMN, "participant"))
        pid = self.participant.get("processRef")
        self.process = next(p for p in self.root.iter(q(BPMN, "process")) if p.get("id") == pid)
        self.lanes = list(self.process.iter(q(BPMN, "lane")))
        self.nodes: dict[str, Node] = {}
        self.flows: dict[str, Flow] = {}
        self.lane_rows: list[int] = []
        self.lane_top: list[int] = []
        self.warnings: list[str] = []
        self.ports: dict[tuple[str, tuple[int, int]], set[str]] = {}  # (node, point) -> {"in", "out"}
        self._read()

    # ---- reading -------------------------------------------------------------------------
    def _read(self) -> None:
        lane_of = {}
        for index, lane in enumerate(self.lanes):
            for ref in lane.findall(q(BPMN, "flowNodeRef")):
                lane_of[ref.text.strip()] = index
        for el in self.process:
            local = etree.QName(el).localname
            if local == "sequenceFlow":
                self.flows[el.get("id")] = Flow(
                    el.get("id"), el.get("sourceRef"), el.get("targetRef"), el.get("name") or ""
                )
                continue
            kind = kind_of(local)
            if kind is None:
                continue
            if el.get("id") not in lane_of:
                raise SystemExit(f"{el.get('id')} is in no lane")
            self.nodes[el.get("id")] = Node(
                el.get("id"),
                local,
                kind,
                el.get("name") or "",
                lane=lane_of[el.get("id")],
                host=el.get("attachedToRef"),
            )
        for flow in self.flows.values():
            self.nodes[flow.source].outgoing.append(flow.id)

    # ---- columns ---------------------------------------------------------------------------
    def _successors(self, node_id: str) -> list[tuple[str, Flow | None]]:
        """Targets in document order; boundary events count as successors of their host."""
        result = [(self.flows[f].target, self.flows[f]) for f in self.nodes[node_id].outgoing]
        result += [(n.id, None) for n in self.nodes.values() if n.host == node_id]
        return result

    def assign_ranks(self) -> None:
        starts = [
            n.id
            for n in self.nodes.values()
            if n.host is None and not any(f.target == n.id for f in self.flows.values())
        ]
        # Depth-first search marks flows that close a loop; the rest is a DAG.
        state: dict[str, str] = {}
        order: list[str] = []

        def visit(node_id: str) -> None:
            state[node_id] = "open"
            self.nodes[node_id].order = len(state)
            for target, flow in self._successors(node_id):
                if state.get(target) == "open":
                    if flow is not None:
                        flow.back = True
                elif target not in state:
                    visit(target)
            state[node_id] = "done"
            order.append(node_id)

        for start in starts:
            visit(start)
        missing = set(self.nodes) - set(state)
        if missing:
            raise SystemExit(f"unreachable nodes: {sorted(missing)}")
        for node_id in reversed(order):  # reverse post-order is a topological order
            node = self.nodes[node_id]
            for target, flow in self._successors(node_id):
                if flow is not None and flow.back:
                    continue
                step = 0 if flow is None else 1  # a boundary event shares its host's column
                self.nodes[target].rank = max(self.nodes[target].rank, node.rank + step)

    # ---- rows ------------------------------------------------------------------------------
    def assign_rows(self) -> None:
        taken: set[tuple[int, int, int]] = set()  # (lane, rank, row)
        reserved: set[tuple[int, int, int]] = set()  # cells a straight same-row flow passes
        placed: set[str] = set()
        by_rank: dict[int, list[Node]] = {}
        for node in self.nodes.values():
            if node.host is None:  # boundary events are drawn on their host
                by_rank.setdefault(node.rank, []).append(node)
        for rank in sorted(by_rank):
            wishes = {n.id: self._desired_row(n, placed) for n in by_rank[rank]}
            # Straight continuations choose first, then new branches, each in discovery order.
            for node in sorted(by_rank[rank], key=lambda n: (wishes[n.id][1], n.order)):
                row = wishes[node.id][0]
                while (node.lane, rank, row) in taken or (node.lane, rank, row) in reserved:
                    row += 1
                node.row = row
                taken.add((node.lane, rank, row))
                if node.outgoing:
                    first = self.flows[node.outgoing[0]]
                    target = self.nodes[first.target]
                    if target.lane == node.lane and not first.back:
                        for between in range(rank + 1, target.rank):
                            reserved.add((node.lane, between, row))
            placed.update(n.id for n in by_rank[rank])
        self.lane_rows = [1] * len(self.lanes)
        for node in self.nodes.values():
            if node.host is None:
                self.lane_rows[node.lane] = max(self.lane_rows[node.lane], node.row + 1)

    def _desired_row(self, node: Node, placed: set[str]) -> tuple[int, bool]:
        """(row wished for, whether the node starts a new branch)."""
        for flow in self.flows.values():
            if flow.target != node.id or flow.back:
                continue
            pred = self.nodes[flow.source]
            if pred.host is not None:  # boundary event: go below the host
                host = self.nodes[pred.host]
                return (host.row + 1 if host.lane == node.lane else 0), True
            if pred.id in placed and pred.lane == node.lane:
                branch = pred.outgoing[0] != flow.id
                return pred.row + (1 if branch else 0), branch
        return 0, False

    # ---- coordinates -----------------------------------------------------------------------
    def place(self) -> None:
        top = POOL_Y
        for rows in self.lane_rows:
            self.lane_top.append(top)
            top += rows * ROW_H
        for node in self.nodes.values():
            if node.host is not None:
                continue
            cx = FIRST_COL + node.rank * COL_W
            cy = self.lane_top[node.lane] + ROW_H // 2 + node.row * ROW_H
            node.x, node.y = cx - node.w // 2, cy - node.h // 2
        for node in self.nodes.values():
            if node.host is not None:
                host = self.nodes[node.host]
                siblings = [n.id for n in self.nodes.values() if n.host == node.host]
                node.x = host.x + host.w - 28 - 40 * siblings.index(node.id)
                node.y = host.y + host.h - node.h // 2

    @property
    def width(self) -> int:
        last = max(n.x + n.w for n in self.nodes.values())
        return last + 60 - POOL_X

    @property
    def height(self) -> int:
        return sum(self.lane_rows) * ROW_H

    # ---- edges -----------------------------------------------------------------------------
    def _obstacles(self, flow: Flow) -> list[Node]:
        skip = {flow.source, flow.target}
        for node_id in (flow.source, flow.target):
            host = self.nodes[node_id].host
            if host:
                skip.add(host)
        return [n for n in self.nodes.values() if n.id not in skip]

    @staticmethod
    def _crosses(points: list[tuple[int, int]], node: Node, margin: int = 4) -> bool:
        left, right = node.x - margin, node.x + node.w + margin
        top, bottom = node.y - margin, node.y + node.h + margin
        for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
            if y1 == y2 and top < y1 < bottom and min(x1, x2) < right and max(x1, x2) > left:
                return True
            if x1 == x2 and left < x1 < right and min(y1, y2) < bottom and max(y1, y2) > top:
                return True
        return False

    def _candidates(self, flow: Flow) -> list[list[tuple[int, int]]]:
        s, t = self.nodes[flow.source], self.nodes[flow.target]
        below = max(s.cy, t.cy) + DETOUR if s.host is None else s.y + s.h + 25
        above = min(s.cy, t.cy) - DETOUR
        around_below = [s.port("bottom"), (s.cx, below), (t.cx, below), t.port("bottom")]
        around_above = [s.port("top"), (s.cx, above), (t.cx, above), t.port("top")]
        if flow.back:
            return [around_below, around_above]
        if s.host is not None:  # boundary events leave downwards
            down = [s.port("bottom"), (s.cx, t.cy), t.port("left")]
            return [down, around_below] if t.cy > s.cy else [around_below, down]

        straight = [s.port("right"), t.port("left")]
        out_vertical = [s.port("bottom" if t.cy > s.cy else "top"), (s.cx, t.cy), t.port("left")]
        in_vertical = [s.port("right"), (t.cx, s.cy), t.port("top" if t.cy > s.cy else "bottom")]
        gap_after = FIRST_COL + s.rank * COL_W + COL_W // 2
        gap_before = FIRST_COL + t.rank * COL_W - COL_W // 2
        z_after = [s.port("right"), (gap_after, s.cy), (gap_after, t.cy), t.port("left")]
        z_before = [s.port("right"), (gap_before, s.cy), (gap_before, t.cy), t.port("left")]
        # leave a gateway downwards (upwards), pass under (over) its row, then turn in the next gap
        side_y = s.cy + DETOUR if t.cy > s.cy else s.cy - DETOUR
        under_row = [
            s.port("bottom" if t.cy > s.cy else "top"),
            (s.cx, side_y),
            (gap_after, side_y),
            (gap_after, t.cy),
            t.port("left"),
        ]
        if s.cy == t.cy:
            return [straight, around_below, around_above]
        joins = sum(1 for f in self.flows.values() if f.target == t.id) > 1
        if t.kind == "gateway" and joins:
            return [in_vertical, z_after, z_before, out_vertical, around_below, around_above]
        if s.kind == "gateway":
            return [out_vertical, under_row, z_after, z_before, in_vertical, around_below, around_above]
        if t.kind == "gateway":
            return [in_vertical, z_after, z_before, out_vertical, around_below, around_above]
        return [z_after, z_before, in_vertical, out_vertical, around_below, around_above]

    def _port_clash(self, flow: Flow, points: list[tuple[int, int]]) -> bool:
        """A port is never both an exit and an entry, and a gateway never has two flows leave one port."""
        start = self.ports.get((flow.source, points[0]), set())
        end = self.ports.get((flow.target, points[-1]), set())
        gateway_exit_taken = self.nodes[flow.source].kind == "gateway" and "out" in start
        return "in" in start or gateway_exit_taken or "out" in end

    def route(self, flow: Flow) -> list[tuple[int, int]]:
        candidates = [_simplify(points) for points in self._candidates(flow)]
        obstacles = self._obstacles(flow)
        chosen = next(
            (
                points
                for points in candidates
                if not self._port_clash(flow, points) and not any(self._crosses(points, n) for n in obstacles)
            ),
            None,
        )
        if chosen is None:
            self.warnings.append(f"{flow.id}: every route crosses a shape; check it in the Modeler")
            chosen = candidates[0]
        self.ports.setdefault((flow.source, chosen[0]), set()).add("out")
        self.ports.setdefault((flow.target, chosen[-1]), set()).add("in")
        return chosen

    # ---- writing ---------------------------------------------------------------------------
    def write_di(self) -> None:
        for old in self.root.findall(q(BPMNDI, "BPMNDiagram")):
            self.root.remove(old)
        diagram = etree.SubElement(self.root, q(BPMNDI, "BPMNDiagram"), id="BPMNDiagram_1")
        plane = etree.SubElement(
            diagram, q(BPMNDI, "BPMNPlane"), id="BPMNPlane_1", bpmnElement=self.collaboration.get("id")
        )
        pid = self.participant.get("id")
        shape = _shape(plane, pid, isHorizontal="true")
        _bounds(shape, POOL_X, POOL_Y, self.width, self.height)
        for index, lane in enumerate(self.lanes):
            shape = _shape(plane, lane.get("id"), isHorizontal="true")
            _bounds(
                shape,
                POOL_X + POOL_HEADER,
                self.lane_top[index],
                self.width - POOL_HEADER,
                self.lane_rows[index] * ROW_H,
            )
        routes = {f.id: self.route(f) for f in self.flows.values()}
        for node in self.nodes.values():
            extra = {"isMarkerVisible": "true"} if node.local == "exclusiveGateway" else {}
            shape = _shape(plane, node.id, **extra)
            _bounds(shape, node.x, node.y, node.w, node.h)
            if node.kind != "task" and node.name:
                _label(shape, *self._node_label(node, routes))
        for flow in self.flows.values():
            edge = etree.SubElement(plane, q(BPMNDI, "BPMNEdge"), id=f"{flow.id}_di", bpmnElement=flow.id)
            for x, y in routes[flow.id]:
                etree.SubElement(edge, q(DI, "waypoint"), x=str(x), y=str(y))
            if flow.name:
                _label(edge, *_flow_label(flow.name, routes[flow.id]))

    def _node_label(self, node: Node, routes: dict) -> tuple[int, int, int, int]:
        w, h = _text_box(node.name)
        if node.host is not None:  # boundary event: right of it, under the host
            return node.x + node.w + 4, node.y + node.h // 2 + 4, w, h
        # Put a gateway's label where no flow touches it: above, else below, else above left.
        touches = {p for r in routes.values() for p in (r[0], r[-1])}
        if node.kind == "gateway" and node.port("top") not in touches:
            return node.cx - w // 2, node.y - 7 - h, w, h
        if node.port("bottom") not in touches:
            return node.cx - w // 2, node.y + node.h + 7, w, h
        return node.x - w - 5, node.y - h, w, h

    def layout(self) -> None:
        self.assign_ranks()
        self.assign_rows()
        self.place()
        self.write_di()


def _simplify(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop repeated points and points in the middle of a straight run."""
    result: list[tuple[int, int]] = []
    for p in points:
        if result and result[-1] == p:
            continue
        if len(result) >= 2:
            (x0, y0), (x1, y1) = result[-2], result[-1]
            if (x0 == x1 == p[0]) or (y0 == y1 == p[1]):
                result[-1] = p
                continue
        result.append(p)
    return result


def _text_box(text: str, width: int = 90) -> tuple[int, int]:
    chars = max(len(text), 1) * 6
    lines = math.ceil(chars / width)
    return (min(chars, width), 14 * lines)


def _flow_label(name: str, points: list[tuple[int, int]]) -> tuple[int, int, int, int]:
    (x0, y0), (_, y1) = points[0], points[1]
    w, h = _text_box(name, 60)
    if y0 == y1:  # leaves sideways: label above the first segment
        return x0 + 6, y0 - h - 3, w, h
    if y1 > y0:  # leaves downwards: label right of it
        return x0 + 5, y0 + 4, w, h
    return x0 + 5, y0 - h - 4, w, h


def _shape(plane: etree._Element, element_id: str, **attrs: str) -> etree._Element:
    return etree.SubElement(
        plane, q(BPMNDI, "BPMNShape"), id=f"{element_id}_di", bpmnElement=element_id, **attrs
    )


def _bounds(parent: etree._Element, x: int, y: int, w: int, h: int) -> None:
    etree.SubElement(parent, q(DC, "Bounds"), x=str(x), y=str(y), width=str(w), height=str(h))


def _label(parent: etree._Element, x: int, y: int, w: int, h: int) -> None:
    _bounds(etree.SubElement(parent, q(BPMNDI, "BPMNLabel")), x, y, w, h)


def modeler_xml(tree: etree._ElementTree) -> bytes:
    """Serialise like Camunda Modeler: two-space indent, a space before '/>'."""
    etree.indent(tree, space="  ")
    text = etree.tostring(tree, xml_declaration=False, encoding="unicode")
    text = re.sub(r'"/>', '" />', text)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n").encode("utf-8")


def main(paths: list[str]) -> int:
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    for path in paths:
        tree = etree.parse(path, parser)
        diagram = Diagram(tree)
        diagram.layout()
        Path(path).write_bytes(modeler_xml(tree))
        for warning in diagram.warnings:
            print(f"{path}: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

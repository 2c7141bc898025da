"""One variable scope per case, as in Camunda 7.

Camunda keeps a process instance's variables in one place: what a task in one parallel branch sets, the
other branch's gateway reads; what a task inside an embedded subprocess sets survives an interrupting
boundary event on it; what the last instance of a multi-instance subprocess sets, the gateway after it
reads. SpiffWorkflow gives every task its own copy of the data instead, taken from its parent when it is
reached, and merges copies at joins — so a value set in one branch was invisible to the others and
could be overwritten by a stale copy, and values set inside a subprocess were lost when a boundary event
interrupted it (tests/engine/test_case_scope.py).

So every step shares what it changed with the whole case: values a person submits reach every task of
the case before the task runs (a multi-instance loop or a gateway reached in the same step sees them), and
after the step the changes of every task that finished in it reach every task still to run. Finished
tasks get new values only for names they already hold: a join merges the data of finished tasks, and a
stale value there would come back, but finished tasks are never given names they did not have (the
stored state would grow with every variable of the case, per finished task).

The multi-instance element variables and ``loopCounter`` stay local to their instance, as in Camunda. An
element variable is a local variable of each instance that shadows a case variable of the same name: inside
the instance (its task, or every task of its embedded subprocess) the name is the instance's element; the
case variable is neither overwritten by it nor hidden, and what is set under that name inside the instance
stays there (``shadows``, ``ShadowingLoop``).

An activity's ``camunda:inputOutput`` input parameters are local variables of the activity in the same way
(``open_locals``): visible to the activity (and every task of an embedded subprocess), shadowing a case
variable of the same name, which keeps its value (``IO_KEY``'s ``outer``: a change of the case variable
meanwhile lands there); what the activity sets under such a name stays local. When the activity ends
(``close_locals``) the locals go and the case's values are back.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import orjson
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    ParallelMultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.task import TaskState

_FINISHED = TaskState.FINISHED_MASK
LOOP_COUNTER = "loopCounter"


def differs(old: Any, new: Any) -> bool:
    """Whether a variable's value changed, kind included: Python's 1 == True == 1.0 would take a change
    from Integer 1 to Boolean true, or from 2 to Double 2.0, for no change at all."""
    if old is new:
        return False
    if type(old) is type(new) and isinstance(new, str | int | float | bool | type(None)):
        return old != new
    try:
        return orjson.dumps(old, option=orjson.OPT_SORT_KEYS) != orjson.dumps(
            new, option=orjson.OPT_SORT_KEYS
        )
    except TypeError:  # a value orjson cannot write (nothing the API accepts): compare as Python does
        return old != new


def all_tasks(wf) -> list:
    """Every task of the case and its subprocesses, finished ones too. A change of the case's variables
    reaches finished tasks as well: a waiting task inherits its parent's data again whenever it is updated
    (a message reaching a re-armed boundary event, say) and a join merges the data of its inputs, so a
    value left in a finished task came back — the change undone, a removed variable restored."""
    return [t for w in (wf, *wf.subprocesses.values()) for t in w.tasks.values()]


def remove(wf, names) -> None:
    """Variables gone from every task of the case (``all_tasks``) — but not an instance's element of the
    same name (``shadows``): removing the case variable leaves the local one, as in Camunda."""
    if names:
        hidden = shadows(wf) if local_names(wf) & set(names) else {}
        for task in all_tasks(wf):
            mine = hidden.get(task.id, {})
            for name in names:
                if name not in mine:
                    task.data.pop(name, None)
        for owner, shadowed in _open_owners(hidden, names):
            for name in shadowed:
                owner.internal_data[IO_KEY]["outer"].pop(name, None)


def assign(wf, values: dict[str, Any]) -> None:
    """``values`` set on every task of the case (``all_tasks``) as case variables: an instance's element of
    the same name keeps its value (``shadows``)."""
    hidden = shadows(wf) if local_names(wf) & values.keys() else {}
    for task in all_tasks(wf):
        mine = hidden.get(task.id)
        task.data.update({k: v for k, v in values.items() if k not in mine} if mine else values)
    _set_outer(hidden, values)


def case_variables(wf) -> dict[str, Any]:
    """The case's current variables: the data of the last completed task (the end event's when done) —
    in the case or in one of its running subprocesses, whose tasks the case's own last task does not see
    (while an embedded subprocess ran, what its tasks were completed with was missing from the case);
    not ``loopCounter``. When that task is inside a multi-instance instance, its element is the
    instance's: the case variable of that name (if any) is the one outside the loop."""
    done = [w.last_task for w in (wf, *wf.subprocesses.values()) if w.last_task is not None]
    task = max(done, key=lambda t: t.last_state_change) if done else wf.task_tree
    out = {k: v for k, v in task.data.items() if not str(k).startswith("_") and k != LOOP_COUNTER}
    if not local_names(wf) & out.keys():
        return out  # (no element variable's name: the usual case, without a walk of the tasks)
    hidden = shadows(wf)
    for name, loop in hidden.get(task.id, {}).items():
        if IO_KEY in loop.internal_data:  # an activity's local: the case's value is kept aside
            if _running(loop) is None:
                continue
            outer = _running(_outermost(loop, name))["outer"]
            if name in outer:
                out[name] = outer[name]
            else:
                out.pop(name, None)
            continue
        while name in hidden.get(loop.id, {}):  # a loop inside an instance of a loop of the same name
            loop = hidden[loop.id][name]
        if name in loop.data:
            out[name] = loop.data[name]
        else:
            out.pop(name, None)
    return out


def local_names(wf) -> frozenset[str]:
    """Names local to a multi-instance instance: ``loopCounter`` and every loop's element (input and
    output item) variables. Kept on the spec, shared by every case of the version."""
    spec = wf.spec
    found = getattr(spec, "_delaktig_local_names", None)
    if found is None:
        names = {LOOP_COUNTER}
        for s in (spec, *wf.subprocess_specs.values()):
            for ts in s.task_specs.values():
                if isinstance(ts, LoopTask):
                    names |= item_names(ts)
                names |= input_names(ts)
        found = frozenset(names)
        spec._delaktig_local_names = found
    return found


def item_names(loop_spec) -> frozenset[str]:
    """The element variable of a multi-instance activity (its input and output item: one name in a
    Camunda diagram), or none."""
    items = (getattr(loop_spec, attr, None) for attr in ("input_item", "output_item"))
    return frozenset(item.bpmn_id for item in items if getattr(item, "bpmn_id", None))


def shadows(wf) -> dict[Any, dict[str, Any]]:
    """Task id → {element variable name: the multi-instance task whose instance it is in} for every task
    inside an instance (the instance itself and every task of its embedded subprocess, nested ones too):
    there the name is the instance's local variable, not the case's. A walk of every task: asked only
    when a name in play is an element variable's."""
    out: dict[Any, dict[str, Any]] = {}

    def mark(task, names: frozenset[str], loop) -> None:
        out.setdefault(task.id, {}).update(dict.fromkeys(names, loop))
        sub = wf.subprocesses.get(task.id)
        if sub is not None:
            for inner in sub.tasks.values():
                mark(inner, names, loop)

    for task in all_tasks(wf):
        spec = task.task_spec
        if isinstance(spec, LoopTask) and (names := item_names(spec)):
            for child in task.children:
                if child.task_spec.name == spec.task_spec:  # an instance (not the flow after the loop)
                    mark(child, names, task)
        record = task.internal_data.get(IO_KEY)
        if record is not None and (names := frozenset(record["names"])):
            # The activity's own data while it runs; the tasks of its embedded subprocess for good (they
            # hold the locals, and a step that ends the subprocess must not share them with the case).
            if _running(task) is not None:
                out.setdefault(task.id, {}).update(dict.fromkeys(names, task))
            sub = wf.subprocesses.get(task.id)
            if sub is not None:
                for inner in sub.tasks.values():
                    mark(inner, names, task)
    return out


IO_KEY = "_io_locals"  # task.internal_data: {"names": [...], "outer": {name: case value}, "closed": bool}


def input_names(task_spec) -> frozenset[str]:
    """The names of an activity's ``camunda:inputOutput`` input parameters (``engine.bpmn.parser``)."""
    mapping = getattr(task_spec, "io_mapping", None)
    return frozenset(p["name"] for p in mapping["inputs"]) if mapping else frozenset()


def io_names(wf) -> frozenset[str]:
    """Every input parameter's name in the case's diagram (kept on its spec, shared by its cases)."""
    spec = wf.spec
    found = getattr(spec, "_delaktig_io_names", None)
    if found is None:
        specs = (spec, *wf.subprocess_specs.values())
        found = frozenset(n for s in specs for ts in s.task_specs.values() for n in input_names(ts))
        spec._delaktig_io_names = found
    return found


def activity_locals(task) -> dict[str, Any]:
    """The activity-local variables ``task`` sees (its own input parameters and those of the embedded
    subprocesses it is in), which the case's variables lack: a user task's form and REST variables show
    them, an external task's worker gets them as local variables."""
    wf = task.workflow.top_workflow
    if not io_names(wf) & task.data.keys():
        return {}
    mine = shadows(wf).get(task.id, {})
    return {
        name: task.data[name]
        for name, owner in mine.items()
        if IO_KEY in owner.internal_data and name in task.data
    }


def open_locals(task, values: dict[str, Any]) -> None:
    """An activity starts: ``values`` (its evaluated input parameters) become its local variables, over the
    case's values of the same names, which are kept aside (``outer``) until ``close_locals``."""
    data = task.data
    task.internal_data[IO_KEY] = {
        "names": list(values),
        "outer": {k: deepcopy(data[k]) for k in values if k in data},
    }
    data.update(values)


def held_locals(task) -> dict[str, Any]:
    """The local variables of an activity that is running (for ``open_locals``' re-inheriting guard and
    an external task's local variables), else none."""
    record = _running(task)
    if record is None:
        return {}
    return {k: task.data[k] for k in record["names"] if k in task.data}


def close_locals(task) -> None:
    """An activity ends: its local variables go, the case's values of those names are back."""
    record = task.internal_data.get(IO_KEY)
    if record is None or record.get("closed"):
        return
    data, outer = task.data, record["outer"]
    for name in record["names"]:
        if name in outer:
            data[name] = outer[name]
        else:
            data.pop(name, None)
    record["closed"] = True
    record["outer"] = {}


def _running(owner) -> dict[str, Any] | None:
    """The locals record of an activity that holds them now (started, not ended or cancelled), or None."""
    record = owner.internal_data.get(IO_KEY)
    if record is None or record.get("closed") or owner.state & _FINISHED:
        return None
    return record


def _enclosing(owner, name: str):
    """The running embedded subprocess around ``owner`` whose local ``name`` is too, or None."""
    wf = owner.workflow
    top = wf.top_workflow
    while wf is not top and wf.parent_task_id is not None:
        parent = top.get_task_from_id(wf.parent_task_id)
        record = _running(parent)
        if record is not None and name in record["names"]:
            return parent
        wf = parent.workflow
    return None


def _outermost(owner, name: str):
    """The outermost running activity shadowing the case variable ``name`` around ``owner``: the one that
    keeps the case's value (an inner one keeps its surrounding subprocess's local)."""
    while (around := _enclosing(owner, name)) is not None:
        owner = around
    return owner


def _open_owners(hidden: dict[Any, dict[str, Any]], names) -> list[tuple[Any, set[str]]]:
    """The outermost running activities whose locals shadow one of ``names``, each with those names."""
    found: dict[Any, tuple[Any, set[str]]] = {}
    for mine in hidden.values():
        for name, owner in mine.items():
            if name in names and _running(owner) is not None:
                top = _outermost(owner, name)
                found.setdefault(top.id, (top, set()))[1].add(name)
    return list(found.values())


def _set_outer(hidden: dict[Any, dict[str, Any]], values: dict[str, Any]) -> None:
    """A case variable set while an activity shadows it: the activity gives the new value back at its end."""
    for owner, names in _open_owners(hidden, values.keys()):
        outer = owner.internal_data[IO_KEY]["outer"]
        for name in names:
            value = values[name]
            outer[name] = deepcopy(value) if isinstance(value, dict | list) else value


def spread(wf, values: dict[str, Any], skip: frozenset[str] | None = None, source=None) -> None:
    """``values`` into every task of the case still to run, and into the finished tasks that hold the
    name already (see the module's docstring). An element variable's name is not written into the
    instances that have it as their own (``shadows``); set by a task inside such an instance (``source``),
    it is that instance's and goes nowhere."""
    local = local_names(wf) if skip is None else skip
    shared = {k: v for k, v in values.items() if k != LOOP_COUNTER and not str(k).startswith("_")}
    hidden = shadows(wf) if local & shared.keys() else {}
    if source is not None:
        shared = {k: v for k, v in shared.items() if k not in hidden.get(source.id, {})}
    if not shared:
        return
    for task in all_tasks(wf):
        data = task.data
        finished = task.state & _FINISHED
        mine = hidden.get(task.id, {})
        for name, value in shared.items():
            if (finished and name not in data) or name in mine:
                continue
            data[name] = deepcopy(value) if isinstance(value, dict | list) else value
    _set_outer(hidden, shared)


def share_script_changes(task, before: dict[str, Any]) -> None:
    """After a script task ran: what it set spreads to the whole case at once, what it removed (``del``)
    goes from every task (``engine.sandbox.CaseScriptEngine``)."""
    wf = task.workflow.top_workflow
    local = local_names(wf)
    data = task.data
    changed = {k: v for k, v in data.items() if k not in before or differs(before[k], v)}
    removed = [k for k in before if k not in data and k not in local and not str(k).startswith("_")]
    if changed:
        spread(wf, changed, local, source=task)
    remove(wf, removed)


class StepScope:
    """What a step starts from: the case's variables and the tasks already finished. ``share()`` after
    the step spreads what the tasks that finished in it changed, in the order they finished."""

    def __init__(self, wf):
        self.wf = wf
        self.before = case_variables(wf)
        self.done = {t.id for t in all_tasks(wf) if t.state == TaskState.COMPLETED}

    def share(self) -> None:
        wf = self.wf
        local = local_names(wf)
        finished = sorted(
            (t for t in all_tasks(wf) if t.state == TaskState.COMPLETED and t.id not in self.done),
            key=lambda t: t.last_state_change,
        )
        changes: dict[str, Any] = {}
        hidden = shadows(wf) if any(local & t.data.keys() for t in finished) else {}
        for task in finished:
            mine = hidden.get(task.id, {})
            for name, value in task.data.items():
                if name in mine or name == LOOP_COUNTER or str(name).startswith("_"):
                    continue
                base = changes[name] if name in changes else self.before.get(name, _MISSING)
                if base is _MISSING or differs(base, value):
                    changes[name] = value
        if changes:
            spread(wf, changes, local)


_MISSING = object()


class ShadowingLoop:
    """A multi-instance activity whose element variable shadows a case variable of the same name, as in
    Camunda 7. SpiffWorkflow refuses to start an instance while the name is among the activity's data
    ("Multiinstance input item … already exists"), and every instance would inherit the case's value over
    its element; so the name is held aside while an instance is created. Without a collection to write
    back to (``loopCardinality``), an instance's data merged into the activity's would leave its element
    there in place of the case's value."""

    def create_child(self, my_task, item, key_or_index=None):
        data, names = my_task.data, item_names(self)
        if not names & data.keys():  # (no case variable of that name: nothing to hold aside)
            return super().create_child(my_task, item, key_or_index)
        before = dict(data)
        for name in names & data.keys():
            del data[name]
        try:
            super().create_child(my_task, item, key_or_index)
        finally:
            _put_back(data, before, names)

    def merge_child(self, workflow, child):
        if self.data_output is not None or not item_names(self):
            return super().merge_child(workflow, child)
        data = child.parent.data
        before = dict(data)
        try:
            return super().merge_child(workflow, child)
        finally:
            _put_back(data, before, item_names(self))


def _put_back(data: dict[str, Any], before: dict[str, Any], names: frozenset[str]) -> None:
    """``names`` as they were in ``before``, in their places (the stored state is written in the data's
    key order: a name moved to the end would change the bytes of an unchanged case), the rest as now."""
    now = dict(data)
    data.clear()
    for key in before:
        if key in names:
            data[key] = before[key]
        elif key in now:
            data[key] = now.pop(key)
    data.update({k: v for k, v in now.items() if k not in names})


class ShadowingParallelLoop(ShadowingLoop, ParallelMultiInstanceTask):
    pass


class ShadowingSequentialLoop(ShadowingLoop, SequentialMultiInstanceTask):
    pass


# The parser's multi-instance classes → the shadowing ones (``engine.bpmn.parser``).
SHADOWING = {
    ParallelMultiInstanceTask: ShadowingParallelLoop,
    SequentialMultiInstanceTask: ShadowingSequentialLoop,
}

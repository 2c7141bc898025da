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

The multi-instance element variables and ``loopCounter`` stay local to their instance, as in Camunda.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import orjson
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.task import TaskState

_FINISHED = TaskState.FINISHED_MASK


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
    """Variables gone from every task of the case (``all_tasks``)."""
    if names:
        for task in all_tasks(wf):
            for name in names:
                task.data.pop(name, None)


def case_variables(wf) -> dict[str, Any]:
    """The case's current variables: the data of the last completed task (the end event's when done) —
    in the case or in one of its running subprocesses, whose tasks the case's own last task does not see
    (while an embedded subprocess ran, what its tasks were completed with was missing from the case);
    not a multi-instance element variable or ``loopCounter``."""
    done = [w.last_task for w in (wf, *wf.subprocesses.values()) if w.last_task is not None]
    task = max(done, key=lambda t: t.last_state_change) if done else wf.task_tree
    local = local_names(wf)  # a multi-instance element is its instance's, not the case's
    return {k: v for k, v in task.data.items() if not str(k).startswith("_") and k not in local}


def local_names(wf) -> frozenset[str]:
    """Names local to a multi-instance instance: ``loopCounter`` and every loop's element (input and
    output item) variables. Kept on the spec, shared by every case of the version."""
    spec = wf.spec
    found = getattr(spec, "_delaktig_local_names", None)
    if found is None:
        names = {"loopCounter"}
        for s in (spec, *wf.subprocess_specs.values()):
            for ts in s.task_specs.values():
                if isinstance(ts, LoopTask):
                    for attr in ("input_item", "output_item"):
                        item = getattr(ts, attr, None)
                        if getattr(item, "bpmn_id", None):
                            names.add(item.bpmn_id)
        found = frozenset(names)
        spec._delaktig_local_names = found
    return found


def spread(wf, values: dict[str, Any], skip: frozenset[str] | None = None) -> None:
    """``values`` into every task of the case still to run, and into the finished tasks that hold the
    name already (see the module's docstring)."""
    local = local_names(wf) if skip is None else skip
    shared = {k: v for k, v in values.items() if k not in local and not str(k).startswith("_")}
    if not shared:
        return
    for task in all_tasks(wf):
        data = task.data
        finished = task.state & _FINISHED
        for name, value in shared.items():
            if finished and name not in data:
                continue
            data[name] = deepcopy(value) if isinstance(value, dict | list) else value


def share_script_changes(task, before: dict[str, Any]) -> None:
    """After a script task ran: what it set spreads to the whole case at once, what it removed (``del``)
    goes from every task (``engine.sandbox.CaseScriptEngine``)."""
    wf = task.workflow.top_workflow
    local = local_names(wf)
    data = task.data
    changed = {k: v for k, v in data.items() if k not in before or differs(before[k], v)}
    removed = [k for k in before if k not in data and k not in local and not str(k).startswith("_")]
    if changed:
        spread(wf, changed, local)
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
        for task in finished:
            for name, value in task.data.items():
                if name in local or str(name).startswith("_"):
                    continue
                base = changes[name] if name in changes else self.before.get(name, _MISSING)
                if base is _MISSING or differs(base, value):
                    changes[name] = value
        if changes:
            spread(wf, changes, local)


_MISSING = object()

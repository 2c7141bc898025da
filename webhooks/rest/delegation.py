"""Task delegation, as Camunda 7's REST API: ``POST /task/{id}/delegate`` ({userId}) and ``POST
/task/{id}/resolve`` ({variables}). The engine does the change and checks who may
(``Delaktig.delegate_task``, ``resolve_task``); this parses and answers.

Delegating makes the delegator the task's ``owner``, the delegate its assignee and its
``delegationState`` PENDING (a task no one holds may be delegated too, as in Camunda, by whoever may work
on it: its owner stays none, so resolving it leaves it unassigned); resolving sets the variables (checked against the task's form as a
completion checks them, without requiring its required fields: the owner completes it), gives the task
back to its owner and makes the state RESOLVED — the task is not completed. A PENDING task cannot be
completed (``/complete``: a 500 ProcessEngineException, as Camunda's "A delegated task cannot be
completed, but should be resolved instead"); ``/submit-form`` of a PENDING task resolves it, as
Camunda's does (``webhooks.rest.task._complete``).

Refusals as for the task's other actions (``task._act``): a task held by a colleague is a 403, one of
another role a 403, a missing one a 404, a task not delegated (resolve) a 500 ProcessEngineException, a
bad ``userId`` or variable a 400 naming it; nothing is changed.
"""

from __future__ import annotations

from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, known_fields, no_content
from webhooks.rest.errors import invalid
from webhooks.rest.task import _act, resolve


@bp.post("/task/<task_id>/delegate")
def task_delegate(task_id: str):
    data = body()
    known_fields(data, {"userId"})
    user_id = data.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise invalid(f"Cannot delegate task {task_id}: 'userId' is required (the user to delegate it to)")
    user = auth.current()
    engine = get_engine()
    # As Camunda's TaskEntity.delegate: an unassigned task may be delegated too (its owner stays none),
    # by whoever may work on it (the engine's rule: the task's role, or a candidate user).
    _act(
        task_id,
        "delegate",
        lambda: engine.delegate_task(task_id, user.name, user_id, roles=set(user.roles), unassigned_too=True),
    )
    return no_content()


@bp.post("/task/<task_id>/resolve")
def task_resolve(task_id: str):
    data = body()
    known_fields(data, {"variables"})
    resolve(task_id, data)
    return no_content()

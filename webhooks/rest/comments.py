"""Task comments: ``GET /task/{id}/comment``, ``GET /task/{id}/comment/{commentId}`` and
``POST /task/{id}/comment/create``, in Camunda's CommentDto shape.

A comment is plain text (1–10 000 characters) kept as an append-only audit row of the task's case (kind
"comment"), so it is on the case's timeline for everyone who reads the case and can be neither edited nor
removed. Written by whoever may work on the open task (``Delaktig.add_comment``); read by whoever may
read its case (the staff pages' rule), also after the task is completed, as Camunda reads them from
history.
"""

from __future__ import annotations

from typing import Any

from engine import camunda_queries as q
from engine import task_changes
from engine.errors import Conflict, DelaktigError, NotFound
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import body, bp, known_fields, link, ok
from webhooks.rest.errors import engine_error, invalid, not_found
from webhooks.rest.variables import fmt_date

# CommentDto: what a client may send; only message and processInstanceId mean anything in a create.
COMMENT_SET_BY_SERVER = ("id", "userId", "taskId", "time", "removalTime", "rootProcessInstanceId", "links")


def comment_dto(c: dict[str, Any], with_link: bool = False) -> dict[str, Any]:
    return {
        "id": c["id"],
        "userId": c["user"],
        "taskId": c["task_id"],
        "processInstanceId": c["case_id"],
        "time": fmt_date(c["at"]),
        "message": c["message"],
        "removalTime": None,
        "rootProcessInstanceId": c["case_id"],
        # As Camunda: the created comment links to itself; listed ones carry no links.
        "links": [link(f"/task/{c['task_id']}/comment/{c['id']}")] if with_link else [],
    }


def _comments(task_id: str) -> list[dict[str, Any]]:
    with get_engine().session() as s:
        task = q.get_task(s, task_id)
        if task is None:
            raise not_found(f"No task found for task id {task_id}")
        auth.require_case_reader(s, task.case_id, resource="Task", what="Task's process instance")
        return task_changes.comments(s, task_id)


@bp.get("/task/<task_id>/comment")
def task_comments(task_id: str):
    return ok([comment_dto(c) for c in _comments(task_id)])


@bp.get("/task/<task_id>/comment/<comment_id>")
def task_comment(task_id: str, comment_id: str):
    found = next((c for c in _comments(task_id) if c["id"] == comment_id), None)
    if found is None:
        raise not_found(f"Task comment with id {comment_id} does not exist for task id '{task_id}'.")
    return ok(comment_dto(found))


def _open(task_id: str) -> bool:
    with get_engine().session() as s:
        task = q.get_task(s, task_id)
    return task is not None and task.state == "open"


@bp.post("/task/<task_id>/comment/create")
def task_create_comment(task_id: str):
    data = body()
    known_fields(data, {"message", "processInstanceId", *COMMENT_SET_BY_SERVER}, COMMENT_SET_BY_SERVER)
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise invalid("Not enough parameters submitted: 'message' is required (a non-empty string)")
    instance = data.get("processInstanceId")
    if instance is not None:
        with get_engine().session() as s:
            task = q.get_task(s, task_id)
        if task is not None and instance != task.case_id:
            raise invalid(
                f"Cannot create comment: 'processInstanceId' {str(instance)[:100]} is not the process "
                f"instance of task {task_id}"
            )
    user = auth.current()
    try:
        comment = get_engine().add_comment(task_id, user.name, message, roles=set(user.roles))
    except DelaktigError as err:
        if isinstance(err, NotFound) or (isinstance(err, Conflict) and not _open(task_id)):
            # Camunda's own answer for a comment on a task that does not exist: a 400.
            raise invalid(f"No task exists with taskId: {task_id}") from None
        raise engine_error(
            err,
            f"Cannot create comment for task {task_id}",
            permission="TASK_WORK",
            resource="Task",
            resource_id=task_id,
        ) from None
    return ok(comment_dto(comment, with_link=True))

"""``application/hal+json``: Camunda's HAL answers to ``GET /task`` and ``GET /task/{id}``, which its
JavaScript SDK and Tasklist ask for (``Accept: application/hal+json, application/json; q=0.5``).

A HAL task is the task's JSON with ``_links`` (self, assignee, execution, processDefinition,
processInstance, identityLink: hrefs relative to ``/engine-rest``, as Camunda writes them) and
``_embedded``; the list is ``{"_links": {"self"}, "_embedded": {"task": [...], "assignee": [users],
"owner": [users], "processDefinition": [definitions], "caseDefinition": []}, "count": n}``. The content type is
negotiated from the request's Accept: JSON for ``*/*`` and no Accept; HAL when the client prefers it; a
406 when it allows neither.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from flask import Response, request

from engine import camunda_queries as q
from engine.models import ProcessDefinition, User, UserTask
from webhooks.rest import auth
from webhooks.rest.errors import RestError

HAL = "application/hal+json"
JSON = "application/json"


def wants_hal() -> bool:
    """Whether to answer HAL: the Accept header's best match of JSON and HAL (none: JSON); a 406 in
    Camunda's shape when the header allows neither."""
    accept = request.accept_mimetypes
    if not accept:
        return False
    best = accept.best_match([JSON, HAL])
    if best is None:
        raise RestError(406, "NotAcceptableException", "HTTP 406 Not Acceptable")
    return best == HAL


def hal_response(body: Any) -> Response:
    return Response(orjson.dumps(body), status=200, mimetype=HAL)


def _href(path: str) -> dict[str, str]:
    return {"href": path}


def _task_links(t: UserTask) -> dict[str, dict[str, str]]:
    links = {"self": _href(f"/task/{t.id}")}
    if t.assignee:
        links["assignee"] = _href(f"/user/{t.assignee}")
    if t.owner:
        links["owner"] = _href(f"/user/{t.owner}")
    links["execution"] = _href(f"/execution/{t.case_id}")
    links["processDefinition"] = _href(f"/process-definition/{t.definition_id}")
    links["processInstance"] = _href(f"/process-instance/{t.case_id}")
    links["identityLink"] = _href(f"/task/{t.id}/identity-links")
    return links


def _hal_task(t: UserTask, dto: dict[str, Any], embedded: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"_links": _task_links(t), "_embedded": embedded, **dto}


def _hal_user(u: User) -> dict[str, Any]:
    """A user as Camunda's HalUser. The e-mail address only for the user themself or a process manager:
    the rule of ``GET /user/{id}/profile`` (webhooks.rest.identity), which a HAL answer must not bypass."""
    first, _, last = (u.display_name or "").partition(" ")
    me = auth.current()
    return {
        "_links": {"self": _href(f"/user/{u.name}")},
        "_embedded": None,
        "id": u.name,
        "firstName": first or None,
        "lastName": last or None,
        "email": u.email if u.name == me.name or me.roles & auth.manager_roles() else None,
    }


def _hal_definition(d: ProcessDefinition, dto: dict[str, Any]) -> dict[str, Any]:
    links = {"self": _href(f"/process-definition/{d.id}")}
    if d.deployment_id:
        links["deployment"] = _href(f"/deployment/{d.deployment_id}")
    return {"_links": links, "_embedded": None, **dto}


def _users(s, names: set[str]) -> list[dict[str, Any]]:
    if not names:
        return []
    rows = s.execute(sa.select(User).where(User.name.in_(sorted(names))).order_by(User.name)).scalars()
    return [_hal_user(u) for u in rows]


def _definitions(s, tasks: list[UserTask], definition_dto) -> list[dict[str, Any]]:
    found = q.definitions_by_id(s, {t.definition_id for t in tasks if t.definition_id})
    return [_hal_definition(d, definition_dto(d)) for _, d in sorted(found.items())]


def task_list(s, tasks: list[UserTask], count: int, task_dto, definition_dto) -> Response:
    """Camunda's HalTaskList: the page of tasks, the users and definitions they link to, the count."""
    return hal_response(
        {
            "_links": {"self": _href("/task")},
            "_embedded": {
                "task": [_hal_task(t, task_dto(t)) for t in tasks],
                "assignee": _users(s, {t.assignee for t in tasks if t.assignee}),
                "owner": _users(s, {t.owner for t in tasks if t.owner}),
                "processDefinition": _definitions(s, tasks, definition_dto),
                "caseDefinition": [],  # no CMMN
            },
            "count": count,
        }
    )


def task(s, t: UserTask, task_dto, definition_dto) -> Response:
    """Camunda's HalTask of one task, with its definition, identity links, and the users and groups
    they name embedded."""
    links = []
    if t.assignee:
        links.append({"userId": t.assignee, "groupId": None, "type": "assignee"})
    if t.owner:
        links.append({"userId": t.owner, "groupId": None, "type": "owner"})
    links += [{"userId": u, "groupId": None, "type": "candidate"} for u in t.candidate_users or []]
    links += [{"userId": None, "groupId": g, "type": "candidate"} for g in t.candidate_groups or []]
    identity_links = [
        {
            "_links": {
                **({"user": _href(f"/user/{x['userId']}")} if x["userId"] else {}),
                **({"group": _href(f"/group/{x['groupId']}")} if x["groupId"] else {}),
            },
            "_embedded": None,
            "taskId": t.id,
            **x,
        }
        for x in links
    ]
    groups = sorted({x["groupId"] for x in links if x["groupId"]})
    embedded = {
        "processDefinition": _definitions(s, [t], definition_dto),
        "caseDefinition": [],
        "identityLink": identity_links,
        "user": _users(s, {x["userId"] for x in links if x["userId"]}),
        "group": [
            {"_links": {"self": _href(f"/group/{g}")}, "_embedded": None, "id": g, "name": g, "type": None}
            for g in groups
        ],
    }
    return hal_response(_hal_task(t, task_dto(t), embedded))

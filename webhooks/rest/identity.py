"""Who a task is for, and which groups a user has: what Camunda 7 tasklists ask before they show a user's
tasks (``GET /task/{id}/identity-links``, ``GET /identity/groups``, ``GET /user/{id}/profile``).

Read only: users and roles are managed in Delaktig (``delaktig users``), not through the API; a task's
candidates come from its diagram, and a process manager adds or removes them with ``POST
/task/{id}/identity-links`` (``task_update``). A user reads their own groups and profile; process owners
and administrators anyone's.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import request

from engine.models import Role, User
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import bp, ok
from webhooks.rest.errors import forbidden, invalid, not_found
from webhooks.rest.params import Params
from webhooks.rest.task import _readable

LINK_TYPES = {"assignee", "candidate", "owner"}


def _param(name: str) -> str | None:
    p = Params(request.args)
    value = p.str(name)
    p.refuse_unused()
    return value


@bp.get("/task/<task_id>/identity-links")
def task_identity_links(task_id: str):
    """Camunda's IdentityLinkDto list: the assignee, the owner (who delegated it), each candidate user
    and group."""
    wanted = _param("type")
    if wanted is not None and wanted not in LINK_TYPES:
        raise invalid(
            f"Cannot get identity links: type {wanted!r} is not one of {', '.join(sorted(LINK_TYPES))}"
        )
    with get_engine().session() as s:
        task = _readable(s, task_id)
    links = []
    if task.assignee:
        links.append({"userId": task.assignee, "groupId": None, "type": "assignee"})
    if task.owner:
        links.append({"userId": task.owner, "groupId": None, "type": "owner"})
    links += [{"userId": u, "groupId": None, "type": "candidate"} for u in task.candidate_users or []]
    links += [{"userId": None, "groupId": g, "type": "candidate"} for g in task.candidate_groups or []]
    return ok([link for link in links if wanted is None or link["type"] == wanted])


def _user_for(name: str, action: str) -> User:
    """The named, active user — for that user themself or a process manager; others get a 403 as for a
    resource they may not read, so the API does not tell who has an account."""
    me = auth.current()
    if name != me.name and not me.roles & auth.manager_roles():
        raise forbidden(
            me.name,
            f"The user with id '{me.name}' does not have 'READ' permission on resource '{name}' of type 'User'.",
            "READ",
            "User",
            name,
        )
    with get_engine().session() as s:
        user = s.execute(sa.select(User).where(User.name == name, User.active.is_(True))).scalar_one_or_none()
        if user is None:
            raise not_found(f"{action}: no user with id {name}")
        s.expunge(user)
        return user


@bp.get("/identity/groups")
def identity_groups():
    """Camunda's GroupInfoDto: the user's groups (Delaktig's roles) and the other members of them."""
    name = _param("userId")
    if not name:
        raise invalid("No user id was supplied")
    user = _user_for(name, "Cannot get groups")
    roles = sorted(r.name for r in user.roles)
    with get_engine().session() as s:
        labels = dict(s.execute(sa.select(Role.name, Role.label).where(Role.name.in_(roles))).all())
        members = (
            s.execute(
                sa.select(User)
                .join(User.roles)
                .where(Role.name.in_(roles), User.active.is_(True))
                .order_by(User.name)
                .distinct()
            )
            .scalars()
            .all()
        )
        group_users = [_user_info(m) for m in members]
    groups = [{"id": r, "name": labels.get(r) or r} for r in roles]
    return ok({"groups": groups, "groupUsers": group_users})


def _user_info(user: User) -> dict:
    first, _, last = (user.display_name or "").partition(" ")
    return {
        "id": user.name,
        "firstName": first or None,
        "lastName": last or None,
        "displayName": user.display_name or user.name,
    }


@bp.get("/user/<name>/profile")
def user_profile(name: str):
    """Camunda's UserProfileDto (id, names, e-mail)."""
    user = _user_for(name, "Cannot get user profile")
    info = _user_info(user)
    return ok(
        {"id": user.name, "firstName": info["firstName"], "lastName": info["lastName"], "email": user.email}
    )

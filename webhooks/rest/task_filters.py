"""The task query parameters Camunda Tasklist's filters send, on top of ``task._filter``'s:
``withCandidateUsers``, ``withoutCandidateUsers``, ``involvedUser`` (assignee, owner or candidate user),
``owner``, ``delegationState`` (PENDING or RESOLVED) and the ``…Expression`` forms of assignee, owner,
candidate user/group(s) and involved user.

An expression is read only as Tasklist writes it: ``${currentUser()}`` is the signed-in user and
``${currentUserGroups()}`` their roles (Delaktig's groups). Any other expression is a 400 naming the
parameter (Delaktig evaluates no expressions in a query). The filters themselves run in SQL
(``engine.camunda_queries``).
"""

from __future__ import annotations

import dataclasses
import re

from engine import camunda_queries as q
from webhooks.rest.auth import Principal
from webhooks.rest.errors import invalid
from webhooks.rest.params import Params

_CURRENT_USER = re.compile(r"^\$\{\s*currentUser\(\s*\)\s*\}$")
_CURRENT_GROUPS = re.compile(r"^\$\{\s*currentUserGroups\(\s*\)\s*\}$")

DELEGATION_STATES = ("PENDING", "RESOLVED")

# (expression parameter, the plain parameter it stands for, TaskFilter field, a list of groups?)
EXPRESSIONS = (
    ("assigneeExpression", "assignee", "assignee", False),
    ("ownerExpression", "owner", "owner", False),
    ("involvedUserExpression", "involvedUser", "involved_user", False),
    ("candidateUserExpression", "candidateUser", "candidate_user", False),
    ("candidateGroupExpression", "candidateGroup", "candidate_group", False),
    ("candidateGroupsExpression", "candidateGroups", "candidate_groups", True),
)


def _resolve(name: str, expression: str, user: Principal, groups: bool) -> str | list[str]:
    if groups and _CURRENT_GROUPS.match(expression):
        # No roles: a group no task has, so the filter finds nothing (an empty list would drop it).
        return sorted(user.roles) or [""]
    if not groups and _CURRENT_USER.match(expression):
        return user.name
    wanted = "${currentUserGroups()}" if groups else "${currentUser()}"
    raise invalid(
        f"Cannot set query parameter '{name}' to value '{expression[:100]}': Delaktig evaluates only "
        f"{wanted} in task queries"
    )


def extend(p: Params, user: Principal, f: q.TaskFilter) -> q.TaskFilter:
    """``f`` with the parameters above (read from ``p``, so ``strict`` does not refuse them)."""
    changes: dict = {
        "with_candidate_users": p.bool("withCandidateUsers"),
        "without_candidate_users": p.bool("withoutCandidateUsers"),
        "involved_user": p.str("involvedUser"),
        "owner": p.str("owner"),
    }
    for param, plain, field, groups in EXPRESSIONS:
        expression = p.str(param)
        if expression is None:
            continue
        if p.src.get(plain) not in (None, "", []):
            raise invalid(f"Give either '{plain}' or '{param}', not both")
        changes[field] = _resolve(param, expression, user, groups)
    if changes["with_candidate_users"] and changes["without_candidate_users"]:
        # As Camunda's TaskQueryImpl: the two exclude each other.
        raise invalid("Cannot set both withCandidateUsers and withoutCandidateUsers")
    state = p.str("delegationState")
    if state is not None:
        if state.upper() not in DELEGATION_STATES:
            # Camunda's converter: an unknown state is a 400 naming the parameter and the valid values.
            raise invalid(
                f"Cannot set query parameter 'delegationState' to value '{state[:100]}': "
                "valid values are PENDING and RESOLVED"
            )
        changes["delegation_state"] = state.upper()
    return dataclasses.replace(f, **changes)

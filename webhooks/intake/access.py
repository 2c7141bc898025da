"""Who may see and who may work the initiatives under /personal/initiativ.

Initiatives carry citizens' names and e-mail addresses, and a status change mails the citizen an answer,
so not every signed-in staff member gets them:

- the intake roles work them all (read, status, note, purge contact data, sync): ``INTAKE_ROLES`` in the
  app config (environment ``DELAKTIG_INTAKE_ROLES``, a JSON list or comma-separated), default
  ``kontaktcenter`` and ``namndsekreterare`` (who receive initiatives and record decisions in the seed
  routines) and the administrator roles ``admin`` and ``systemadministrator``;
- the case-reader roles (``webhooks.case_readers``: ``revisor`` by default) read them all, read-only;
- everyone else reads the initiatives whose routed case they may read (``engine.inbox.case_access``:
  they work or worked on it), read-only, and sees no other initiative.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

from engine import inbox, users
from webhooks.case_readers import case_reader_roles, role_setting
from webhooks.intake.common import engine

DEFAULT_INTAKE_ROLES = ("kontaktcenter", "namndsekreterare", "admin", "systemadministrator")


def intake_roles() -> set[str]:
    return role_setting("INTAKE_ROLES", DEFAULT_INTAKE_ROLES)


@dataclass(frozen=True)
class IntakeAccess:
    user: str
    roles: frozenset[str]
    manage: bool  # may change initiatives (intake roles)
    read_all: bool  # sees every initiative (intake or case-reader roles)

    def readable_by(self) -> tuple[str, set[str]] | None:
        """For the lists: None (all) or who the list is narrowed to (``engine.inbox.readable_cases``)."""
        return None if self.read_all else (self.user, set(self.roles))

    def may_read(self, case_id: str | None) -> bool:
        if self.read_all:
            return True
        if case_id is None:
            return False
        with engine().session() as s:
            return inbox.case_access(s, case_id, self.user, set(self.roles), set()) not in (None, "missing")


def current() -> IntakeAccess:
    """The signed-in user's access (roles from the staff app's sign-in, else from the user table); worked
    out once per request."""
    known = getattr(g, "intake_access", None)
    if known is not None:
        return known
    user = g.intake_user
    roles = getattr(g, "roles", None)
    if roles is None or getattr(g, "user", None) != user:
        with engine().session() as s:
            roles = set(users.roles_of(s, user))
    manage = bool(roles & intake_roles())
    g.intake_access = IntakeAccess(
        user, frozenset(roles), manage, manage or bool(roles & case_reader_roles())
    )
    return g.intake_access

"""Who may read every case: the case-reader roles, shared by the staff pages and the REST API.

``CASE_READER_ROLES`` in the app config (environment ``DELAKTIG_CASE_READER_ROLES``, a JSON list or
comma-separated); default ``admin`` and ``systemadministrator`` (the administrator roles) and ``revisor``
(auditors). Everyone else reads the cases ``engine.inbox.case_access`` grants them.
"""

from __future__ import annotations

from flask import current_app

DEFAULT_CASE_READER_ROLES = ("admin", "systemadministrator", "revisor")


def case_reader_roles() -> set[str]:
    return role_setting("CASE_READER_ROLES", DEFAULT_CASE_READER_ROLES)


def role_setting(key: str, default: tuple[str, ...]) -> set[str]:
    """A set of role names from the app config (from the environment as ``DELAKTIG_<key>``: a JSON list,
    or comma-separated), ``default`` when unset."""
    configured = current_app.config.get(key)
    if configured is None:
        return set(default)
    if not isinstance(configured, list | tuple | set | frozenset):
        configured = str(configured).split(",")  # "admin,revisor" (not JSON) stays a string
    return {str(r).strip() for r in configured if str(r).strip()}

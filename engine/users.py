"""Staff accounts and roles. Role names are the diagrams' candidate groups."""

from __future__ import annotations

import re

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, Problem, ValidationFailed
from engine.mail import EMAIL
from engine.models import Role, User, UserRole

_hasher = PasswordHasher()
NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,99}$")
ROLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
# The names the engine itself acts under (timers, the scheduler, the intake of initiatives). They start
# cases without a role, so no account may carry one.
SYSTEM_ACTORS = frozenset({"system", "intake"})
# A hash to verify against when the user does not exist, so timing does not reveal valid user names.
_DUMMY_HASH = _hasher.hash("delaktig-no-such-user")


def add_user(
    session: Session,
    name: str,
    password: str | None,
    roles: list[str],
    email: str | None = None,
    display_name: str | None = None,
) -> User:
    problems = []
    if not NAME.match(name or ""):
        problems.append(
            Problem("name", "Användarnamnet får bara innehålla a–z, 0–9, _ . @ - (2–100 tecken).")
        )
    elif name in SYSTEM_ACTORS:
        problems.append(Problem("name", f"Användarnamnet {name} är reserverat för Delaktig självt."))
    for role in roles:
        if not ROLE.match(role):
            problems.append(Problem("role", f"Rollnamnet {role!r} får bara innehålla a–z, 0–9, _ och -."))
    if password is not None and len(password) < 8:
        problems.append(Problem("password", "Lösenordet måste ha minst 8 tecken."))
    email = (email or "").strip() or None
    if email is not None and not EMAIL.match(email):
        # Checked here, not first at sending: a mistyped address would otherwise fail every reminder.
        problems.append(
            Problem("email", f"{email!r} är ingen giltig e-postadress (till exempel namn@kommun.se).")
        )
    if problems:
        raise ValidationFailed(problems)
    if session.execute(sa.select(User.id).where(User.name == name)).first():
        raise Conflict(f"Användaren {name} finns redan.")
    user = User(
        name=name,
        password_hash=_hasher.hash(password) if password else None,
        email=email,
        display_name=display_name,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    set_roles(session, user, roles)
    return user


def ensure_role(session: Session, role: str, label: str | None = None) -> Role:
    existing = session.get(Role, role)
    if existing is None:
        existing = Role(name=role, label=label)
        session.add(existing)
        session.flush()
    return existing


def set_roles(session: Session, user: User, roles: list[str]) -> None:
    session.execute(sa.delete(UserRole).where(UserRole.user_id == user.id))
    for role in sorted(set(roles)):
        ensure_role(session, role)
        session.add(UserRole(user_id=user.id, role_name=role))
    session.flush()
    session.refresh(user)


def authenticate(session: Session, name: str, password: str) -> User | None:
    user = session.execute(sa.select(User).where(User.name == name)).scalar()
    if user is None or not user.active or not user.password_hash or user.name in SYSTEM_ACTORS:
        try:
            _hasher.verify(_DUMMY_HASH, password or "")
        except (VerificationError, InvalidHashError):
            pass
        return None
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def is_active(session: Session, name: str) -> bool:
    """An account of that name exists and may sign in and work."""
    return session.execute(sa.select(User.active).where(User.name == name)).scalar() is True


def roles_of(session: Session, name: str) -> set[str]:
    return {
        r
        for (r,) in session.execute(
            sa.select(UserRole.role_name)
            .join(User, User.id == UserRole.user_id)
            .where(User.name == name, User.active.is_(True))
        )
    }

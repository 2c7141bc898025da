"""Users and roles: argon2 hashes, authentication, roles as candidate groups."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.errors import Conflict, ValidationFailed
from engine.models import User


def test_passwords_are_argon2_and_authenticate(d):
    d.add_user("hanna", "hemligt123", ["handlaggare", "enhetschef"], email="hanna@example.se")
    with d.session() as s:
        user = s.execute(sa.select(User).where(User.name == "hanna")).scalar_one()
        assert user.password_hash.startswith("$argon2id$") and "hemligt123" not in user.password_hash
    assert d.authenticate("hanna", "hemligt123").name == "hanna"
    assert d.authenticate("hanna", "fel-lösenord") is None
    assert d.authenticate("okand", "hemligt123") is None
    assert d.roles_of("hanna") == {"handlaggare", "enhetschef"}


def test_bad_input_and_duplicates(d):
    with pytest.raises(ValidationFailed) as err:
        d.add_user("Hanna Berg", "kort", ["Ogiltig Roll"])
    assert {p.where for p in err.value.problems} == {"name", "role", "password"}
    d.add_user("hanna", "hemligt123", [])
    with pytest.raises(Conflict):
        d.add_user("hanna", "hemligt123", [])

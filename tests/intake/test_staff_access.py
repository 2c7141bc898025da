"""Who sees and who works initiatives under /personal/initiativ (``webhooks.intake.access``): the intake
roles work them all; the case-reader roles read them all; everyone else reads only those whose routed
case they may read, and changes none. Refused requests change nothing and show no personal data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import initiatives
from engine.initiative_models import Initiative, InitiativeContact
from tests.intake.conftest import PASSWORD, Client

STAFF = {
    "stina": ["namndsekreterare"],  # an intake role
    "hugo": ["handlaggare"],  # the routed case's first task is his group's
    "nora": ["namnd"],  # no task in any case yet
    "rut": ["revisor"],  # a case-reader role: reads everything, changes nothing
}


@pytest.fixture
def initiatives_and_staff(d, config):
    for name, roles in STAFF.items():
        d.add_user(name, PASSWORD, roles, email=f"{name}@kommun.example.se")

    def register(kind: str, subject: str, email: str):
        sub = initiatives.Submission(kind=kind, subject=subject, text="Text", email=email, name="Kim")
        return initiatives.register(d, sub, config)

    routed = register("medborgarforslag", "Parkering vid skolan", "kim@example.se")
    unrouted = register("synpunkt", "Buller på natten", "alex@example.se")
    assert routed.case_id and not unrouted.case_id
    return routed, unrouted


def signed_in(server, user: str) -> Client:
    c = Client(server)
    c.get("/logga-in")
    assert c.post_form("/logga-in", {"username": user, "password": PASSWORD}).status == 200
    return c


def _note_and_contact(d, initiative_id: str):
    with d.session() as s:
        return s.get(Initiative, initiative_id).internal_note, s.get(InitiativeContact, initiative_id)


def test_lists_hold_what_each_may_read(server, initiatives_and_staff):
    routed, unrouted = initiatives_and_staff
    both = {routed.diarienummer, unrouted.diarienummer}
    expected = {"stina": both, "rut": both, "hugo": {routed.diarienummer}, "nora": set()}
    for user, visible in expected.items():
        c = signed_in(server, user)
        page = c.get("/personal/initiativ/").text
        report = c.get("/personal/initiativ/rapport?format=csv").text
        for reg in (routed, unrouted):
            shown = reg.diarienummer in visible
            assert (reg.diarienummer in page) == shown, (user, reg.diarienummer)
            assert (reg.diarienummer in report) == shown, (user, reg.diarienummer)
        # Only the intake roles get the button that moves initiatives on.
        assert ("Hämta status från rutinerna nu" in page) == (user == "stina"), user


def test_a_reader_sees_the_initiative_but_cannot_change_it(d, server, initiatives_and_staff):
    routed, unrouted = initiatives_and_staff
    for user in ("hugo", "rut"):
        c = signed_in(server, user)
        detail = c.get(f"/personal/initiativ/{routed.initiative_id}")
        assert detail.status == 200 and "kim@example.se" in detail.text, user
        assert "Spara anteckningen" not in detail.text and "Ta bort initiativtagarens" not in detail.text
        before = _note_and_contact(d, routed.initiative_id)
        refused = [
            c.post_form(f"/personal/initiativ/{routed.initiative_id}/anteckning", {"note": "Hemligt"}),
            c.post_form(f"/personal/initiativ/{routed.initiative_id}/rensa-personuppgifter", {}),
            c.post_form(
                f"/personal/initiativ/{routed.initiative_id}/status",
                {"status": "decided", "decision": "Avslag."},
            ),
            c.post_form("/personal/initiativ/synka", {}),
        ]
        assert [r.status for r in refused] == [403] * 4, user
        assert "Du kan inte ändra initiativ" in refused[0].text
        after = _note_and_contact(d, routed.initiative_id)
        assert after[0] == before[0] and after[1] is not None
        with d.session() as s:
            assert s.get(Initiative, routed.initiative_id).status == "received"


def test_someone_without_a_part_in_it_sees_nothing_of_it(server, initiatives_and_staff):
    routed, unrouted = initiatives_and_staff
    nora, hugo = signed_in(server, "nora"), signed_in(server, "hugo")
    for c, reg in ((nora, routed), (nora, unrouted), (hugo, unrouted)):
        r = c.get(f"/personal/initiativ/{reg.initiative_id}")
        assert r.status == 403
        assert "@example.se" not in r.text and reg.diarienummer not in r.text


def test_the_intake_role_works_them(d, server, initiatives_and_staff):
    routed, unrouted = initiatives_and_staff
    c = signed_in(server, "stina")
    detail = c.get(f"/personal/initiativ/{unrouted.initiative_id}")
    assert detail.status == 200 and "alex@example.se" in detail.text and "Spara anteckningen" in detail.text
    assert (
        c.post_form(f"/personal/initiativ/{unrouted.initiative_id}/anteckning", {"note": "Ring upp."}).status
        == 200
    )
    assert _note_and_contact(d, unrouted.initiative_id)[0] == "Ring upp."
    assert (
        c.post_form(f"/personal/initiativ/{unrouted.initiative_id}/rensa-personuppgifter", {}).status == 200
    )
    assert _note_and_contact(d, unrouted.initiative_id)[1] is None
    with d.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(InitiativeContact)).scalar() == 1


def test_intake_roles_come_from_the_config(app, server, initiatives_and_staff):
    routed, _ = initiatives_and_staff
    app.config["INTAKE_ROLES"] = "namnd, kontaktcenter"  # as DELAKTIG_INTAKE_ROLES=namnd,kontaktcenter
    nora, stina = signed_in(server, "nora"), signed_in(server, "stina")
    assert nora.get(f"/personal/initiativ/{routed.initiative_id}").status == 200
    assert stina.get(f"/personal/initiativ/{routed.initiative_id}").status == 403

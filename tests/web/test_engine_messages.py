"""The engine's Swedish messages (engine.errors, engine.forms) in the page's language: English when the
user chose English, the engine's own text by default (webhooks.engine_messages)."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from engine import errors
from engine.forms import validate_form
from tests.web.conftest import html
from tests.web.test_tasks import GOOD, start
from webhooks import engine_messages as messages

BAD_FORM = {"kommentar": "", "antal": "500", "mote": "igår", "skal": "annat"}


def english(staff, name):
    s = staff(name)
    s.post("/sprak", {"lang": "en"})
    return s


def test_form_errors_in_english(engine, staff):
    info, task = start(engine)
    s = english(staff, "anna")
    s.post(f"/uppgifter/{task}/ta")
    r = s.post(f"/uppgifter/{task}", BAD_FORM)
    page = html(r)
    assert r.status_code == 422 and "The form has errors" in page
    assert 'id="e-kommentar"' in page and "This field is required." in page
    assert 'id="e-antal"' in page and "Must be at most 100." in page
    assert 'id="e-mote"' in page and "Invalid date; write it as YYYY-MM-DD." in page
    for swedish in ("Fältet är obligatoriskt.", "Får vara högst", "Ogiltigt datum"):
        assert swedish not in page
    page = html(s.post(f"/uppgifter/{task}", {"kommentar": "x" * 501, "antal": "x", "skal": "påhittat"}))
    assert "Must be at most 500 characters." in page and "Must be a whole number." in page
    assert "Invalid choice; choose one of the options." in page


def test_form_errors_in_swedish_by_default(engine, staff):
    info, task = start(engine)
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    page = html(s.post(f"/uppgifter/{task}", BAD_FORM))
    assert "Fältet är obligatoriskt." in page and "Får vara högst 100." in page
    assert "This field is required." not in page and "Must be at most" not in page


def test_engine_conflicts_in_english_and_in_swedish_by_default(engine, staff):
    info, task = start(engine)
    staff("anna").post(f"/uppgifter/{task}/ta")
    # The claim and the give-back reach the engine, which refuses with a Conflict (409 page).
    en = english(staff, "annika")
    r = en.post(f"/uppgifter/{task}/ta")
    assert r.status_code == 409 and "The task has already been claimed by anna." in html(r)
    r = en.post(f"/uppgifter/{task}/lamna")
    assert r.status_code == 409
    assert "The task is claimed by anna; only that person can give it back." in html(r)
    assert "Uppgiften" not in html(r)
    sv = staff("annika")
    r = sv.post(f"/uppgifter/{task}/ta")
    assert r.status_code == 409 and "Uppgiften är redan tagen av anna." in html(r)
    r = sv.post(f"/uppgifter/{task}/lamna")
    assert "Uppgiften är tagen av anna; bara den personen kan lämna tillbaka den." in html(r)


def _raised(fn) -> errors.DelaktigError:
    with pytest.raises(errors.DelaktigError) as caught:
        fn()
    return caught.value


def test_every_task_error_of_the_engine_has_an_english_text(app, engine):
    """Raise each engine error the staff pages can show and translate it: if the engine's wording
    changes, the template no longer matches and this fails."""
    info, task = start(engine)
    engine.add_user("olle", "hemligt-123", ["handlaggare"])
    engine.add_user("stina", "hemligt-123", ["handlaggare"])
    expected = {}
    expected[_raised(lambda: engine.claim_task(task, "bertil", roles={"namnd"}))] = (
        "The task belongs to a role you do not have."
    )
    expected[_raised(lambda: engine.complete_task("nope", "olle"))] = "The task nope does not exist."
    engine.claim_task(task, "olle")
    expected[_raised(lambda: engine.claim_task(task, "stina"))] = "The task has already been claimed by olle."
    expected[_raised(lambda: engine.complete_task(task, "stina", GOOD))] = "The task is claimed by olle."
    expected[_raised(lambda: engine.unclaim_task(task, "stina"))] = (
        "The task is claimed by olle; only that person can give it back."
    )
    invalid = _raised(lambda: engine.complete_task(task, "olle", {**GOOD, "antal": "x"}))
    expected[invalid] = "The form contains errors."
    assert [p.message for p in invalid.problems] == ["Måste vara ett heltal."]
    engine.complete_task(task, "olle", GOOD)
    expected[_raised(lambda: engine.complete_task(task, "olle", GOOD))] = "The task is already completed."
    other = start(engine, key="KS-2")[0]
    engine.cancel_case(other.id, "system")
    expected[_raised(lambda: engine.cancel_case(other.id, "system"))] = "The case is already closed."
    expected[_raised(lambda: engine.complete_task(other.open_tasks[0], "olle", GOOD))] = (
        "The task is no longer active."
    )
    expected[_raised(lambda: engine.cancel_case("nope", "system"))] = "The case nope does not exist."
    with app.test_request_context(), force_locale("en"):
        for err, english_text in expected.items():
            assert messages.translate_error(err) == english_text, str(err)
    with app.test_request_context():  # Swedish: the engine's own words
        for err in expected:
            assert messages.translate_error(err) == str(err)


FIELDS = [
    {"id": "ja", "type": "boolean"},
    {"id": "kryss", "type": "boolean", "constraints": {"required": None}},
    {"id": "tal", "type": "long", "constraints": {"min": 1, "max": 10}},
    {"id": "dag", "type": "date"},
    {"id": "val", "type": "enum", "options": [{"id": "a"}]},
    {"id": "text", "type": "string", "constraints": {"required": None, "minlength": 3, "maxlength": 5}},
]
CASES = [
    ({"ja": "kanske"}, "ja", "Must be yes or no."),
    ({"kryss": "false"}, "kryss", "Must be ticked before the task can be completed."),
    ({"tal": "tre"}, "tal", "Must be a whole number."),
    ({"tal": "0"}, "tal", "Must be at least 1."),
    ({"tal": "11"}, "tal", "Must be at most 10."),
    ({"dag": "31/12"}, "dag", "Invalid date; write it as YYYY-MM-DD."),
    ({"val": "b"}, "val", "Invalid choice; choose one of the options."),
    ({"text": ""}, "text", "This field is required."),
    ({"text": 12}, "text", "Must be text."),
    ({"text": "ab"}, "text", "Must be at least 3 characters."),
    ({"text": "abcdef"}, "text", "Must be at most 5 characters."),
    ({"okänd": 1}, "okänd", "Unknown field for this task."),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no database involved: once is enough
def test_every_form_message_of_the_engine_has_an_english_text(app, db_url):
    seen = {}
    for data, field, english_text in CASES:
        _clean, problems = validate_form({"fields": FIELDS}, {"kryss": "true", "text": "abcd", **data})
        by_field = {p.where: p.message for p in problems}
        seen[by_field[field]] = english_text
    _clean, problems = validate_form({}, {"_x": 1})
    seen[problems[0].message] = "Invalid variable name."
    _clean, problems = validate_form({"fields": FIELDS}, ["not", "an", "object"])
    seen[problems[0].message] = "The form data must be an object."
    with app.test_request_context(), force_locale("en"):
        for swedish, english_text in seen.items():
            assert messages.translate(swedish) == english_text, swedish
        assert (
            messages.translate("Ett meddelande som ingen mall känner.")
            == "Ett meddelande som ingen mall känner."
        )
    with app.test_request_context():
        for swedish in seen:
            assert messages.translate(swedish) == swedish

"""Session 10's hostile-input probe of the staff pages, in Debian's Chromium against the app served by a
real WSGI server (both databases): defects that only a browser shows.

- A whole-number field was an ``<input type="number">``: Chromium sends what it can parse of the typed text,
  so "1,5" (a Swedish decimal comma) went to the server as 15 and "1e" as nothing — saved without a word.
- Text from a case (a citizen's, a colleague's) with a right-to-left override (U+202E) turned the rest of
  its line around: on the case page a change "before → after" read as "after ← before" to an auditor, and
  an open task's role and assignee were shown reversed.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import PASSWORD, ensure_user
from tests.web.test_browser import browser, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
NAMED_TASK = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_probe10" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="probe10_namn" name="Namngiven uppgift" isExecutable="true">
    <bpmn:startEvent id="Start_probe"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Task_probe" name="Svara ${rubrik}" camunda:candidateGroups="handlaggare">
      <bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End_probe"><bpmn:incoming>F2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start_probe" targetRef="Task_probe" />
    <bpmn:sequenceFlow id="F2" sourceRef="Task_probe" targetRef="End_probe" />
  </bpmn:process>
</bpmn:definitions>"""


def _signed_in_page(app, browser, server, user: str):  # noqa: F811
    ensure_user(app, user)
    context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server}/logga-in")
    page.get_by_label("Användarnamn").fill(user)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Uppgifter")).to_be_visible()
    return context, page


def test_a_whole_number_is_sent_as_typed_and_a_typo_is_not_saved(app, engine, server, browser):  # noqa: F811
    info = engine.start_case(
        "test_initiativ", business_key="KS-2026/10", variables={"antal": 2}, actor="system"
    )
    task = info.open_tasks[0]
    ensure_user(app, "anna")
    engine.claim_task(task, "anna", roles={"handlaggare"})
    context, page = _signed_in_page(app, browser, server, "anna")
    page.goto(f"{server}/uppgifter/{task}")
    page.locator("#f-kommentar").fill("Frågan är påverkbar.")
    antal = page.get_by_label("Antal deltagare")
    for typed in ("1,5", "1e"):
        antal.fill("")
        antal.press_sequentially(typed)
        page.get_by_role("button", name="Slutför uppgiften").click()
        expect(page.locator("#e-antal")).to_contain_text("Måste vara ett heltal.")
        expect(antal).to_have_value(typed)  # shown again as typed, to be corrected
        expect(antal).to_have_attribute("aria-invalid", "true")
    with engine.session() as s:
        from engine.models import Case, UserTask

        assert s.get(UserTask, task).state == "open"
        assert s.get(Case, info.id).data["antal"] == 2  # nothing saved
    antal.fill("12")
    page.get_by_role("button", name="Slutför uppgiften").click()
    expect(page).to_have_url(f"{server}/arenden/{info.id}")
    expect(page.locator("#case-data")).to_contain_text("12")
    context.close()


def test_right_to_left_text_from_a_case_does_not_turn_its_line_around(app, engine, server, browser):  # noqa: F811
    engine.deploy(NAMED_TASK, "probe10.bpmn", "test")
    before = f"Godkänd{RLO} av nämnden"
    info = engine.start_case(
        "test_initiativ", business_key="KS-2026/11", variables={"kommentar": before}, actor="system"
    )
    engine.claim_task(info.open_tasks[0], "anna", roles={"handlaggare"})
    engine.complete_task(
        info.open_tasks[0],
        "anna",
        {"kommentar": "Avslag", "antal": "3", "fragan_paverkbar": "false"},
        roles={"handlaggare"},
    )
    named = engine.start_case("probe10_namn", variables={"rubrik": f"Buller{RLO} i parken"}, actor="system")
    engine.claim_task(named.open_tasks[0], "anna", roles={"handlaggare"})
    context, page = _signed_in_page(app, browser, server, "rut")  # the auditor

    page.goto(f"{server}/arenden/{info.id}")
    change = page.locator("#timeline li", has_text="Uppgift slutförd").locator(
        ".changes li", has_text="kommentar"
    )
    expect(change).to_be_visible()
    old, new = change.locator(".before").bounding_box(), change.locator(".after").bounding_box()
    assert old["x"] + old["width"] <= new["x"], (old, new)  # before, then → after: left to right

    page.goto(f"{server}/arenden/{named.id}")
    item = page.locator("#open-heading + ul li").first
    expect(item).to_contain_text("tagen av anna")
    # the name, then "(role; tagen av …)" after it — on its line or the next, not inside the name
    name, role = item.evaluate(
        """li => {
            const text = li.querySelector('.muted').firstChild;
            const range = document.createRange();
            range.setStart(text, text.data.indexOf('handlaggare'));
            range.setEnd(text, text.data.indexOf('handlaggare') + 'handlaggare'.length);
            const r = range.getBoundingClientRect(), n = li.querySelector('a').getBoundingClientRect();
            return [[n.left, n.right, n.bottom], [r.left, r.top]];
        }"""
    )
    assert role[0] >= name[1] - 1 or role[1] >= name[2] - 1, (name, role)
    context.close()


UNBOUNDED_LONG = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_probe10_tal" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="probe10_tal" name="Ett tal" isExecutable="true">
    <bpmn:startEvent id="Start_tal"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Task_tal" name="Ange antalet" camunda:candidateGroups="handlaggare">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="tal" label="Antal" type="long" />
        <camunda:formField id="anteckning" label="Anteckning" type="string" />
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End_tal"><bpmn:incoming>F2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start_tal" targetRef="Task_tal" />
    <bpmn:sequenceFlow id="F2" sourceRef="Task_tal" targetRef="End_tal" />
  </bpmn:process>
</bpmn:definitions>"""


def test_a_number_beyond_64_bits_is_an_error_beside_its_field(engine, staff):
    """Before: only the page's summary said "Ett värde kan inte användas: …" (the database refused it), with
    nothing next to the field; a long is 64 bits, as in Camunda, and is checked as the field's bound."""
    import re

    from engine.models import UserTask

    engine.deploy(UNBOUNDED_LONG, "probe10_tal.bpmn", "test")
    s = staff("anna")
    for typed, message in (
        ("9223372036854775808", "Får vara högst 9223372036854775807."),
        ("-99999999999999999999", "Måste vara minst -9223372036854775808."),
    ):
        task = engine.start_case("probe10_tal", actor="system").open_tasks[0]
        s.post(f"/uppgifter/{task}/ta")
        r = s.post(f"/uppgifter/{task}", {"tal": typed, "anteckning": "Räknat i dag"})
        page = r.get_data(as_text=True)
        assert r.status_code == 422, page
        error = re.search(r'<p class="field-error" id="e-tal">(.*?)</p>', page, re.S)
        assert error and message in error.group(1), page
        assert f'value="{typed}"' in page and 'value="Räknat i dag"' in page
        with engine.session() as db:
            assert db.get(UserTask, task).state == "open"
    task = engine.start_case("probe10_tal", actor="system").open_tasks[0]
    s.post(f"/uppgifter/{task}/ta")
    assert s.post(f"/uppgifter/{task}", {"tal": "9223372036854775807"}).status_code == 302


def test_a_step_the_diagram_fails_is_explained_in_the_page_s_language(engine, staff):
    """Before: "… från steget G i diagrammet: variable 'avslag' is not set (evaluating ${avslag == true}).
    (NameError). Inget har ändrats." — the engine's English inside the Swedish page."""
    from tests.rest.test_form_keys import FORM_KEY

    engine.deploy(FORM_KEY, "formular.bpmn", "test")
    task = engine.start_case("med_formular", business_key="F-10", actor="system").open_tasks[0]
    s = staff("anna")
    s.post(f"/uppgifter/{task}/ta")
    page = s.post(f"/uppgifter/{task}", {}).get_data(as_text=True)
    assert (
        "Ärendet kunde inte gå vidare från steget G i diagrammet: variabeln ”avslag” finns inte i ärendet "
        "(i uttrycket ${avslag == true}). Inget har ändrats." in page
    ), page
    assert "is not set" not in page and "NameError" not in page
    s.post("/sprak", {"lang": "en"})
    s.get(f"/uppgifter/{task}")
    page = s.post(f"/uppgifter/{task}", {}).get_data(as_text=True)
    assert (
        "The case could not move on from the step G of the diagram: the variable ”avslag” is not set in the "
        "case (in the expression ${avslag == true}). Nothing has changed." in page
    ), page


SCHEMA = (
    '{"type":"object","required":["namn","antal"],"properties":{'
    '"namn":{"type":"string","minLength":2,"title":"Namn"},'
    '"antal":{"type":"integer","minimum":1,"maximum":10,"title":"Antal"},'
    '"val":{"enum":["a","b"],"title":"Val"}}}'
)
SCHEMA_FORM = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_probe10_schema" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="probe10_schema" name="Schemaformulär" isExecutable="true">
    <bpmn:startEvent id="Start_schema"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Task_schema" name="Fyll i" camunda:candidateGroups="handlaggare">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="formSchema" value='{SCHEMA}'/>
      </camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>F1</bpmn:incoming><bpmn:outgoing>F2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End_schema"><bpmn:incoming>F2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start_schema" targetRef="Task_schema" />
    <bpmn:sequenceFlow id="F2" sourceRef="Task_schema" targetRef="End_schema" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_a_json_schema_form_answers_in_swedish_beside_each_field(engine, staff):
    """Before: a 500 for "²" or a number of 5,000 digits in a whole-number field (``int`` refused what
    ``isdigit`` let through), jsonschema's English beside the fields ("'x' is too short", "0 is less than
    the minimum of 1"), and a second missing required field marked at the first one."""
    import re

    from engine.models import UserTask

    engine.deploy(SCHEMA_FORM, "probe10_schema.bpmn", "test")
    s = staff("anna")

    def submit(data: dict) -> tuple[int, dict[str, str], str]:
        task = engine.start_case("probe10_schema", actor="system").open_tasks[0]
        s.post(f"/uppgifter/{task}/ta")
        r = s.post(f"/uppgifter/{task}", data)
        page = r.get_data(as_text=True)
        with engine.session() as db:
            assert db.get(UserTask, task).state == ("open" if r.status_code != 302 else "completed")
        found = re.findall(
            r'<p class="field-error" id="e-(\w+)"><span class="visually-hidden">Fel:</span> (.*?)</p>', page
        )
        return r.status_code, dict(found), page

    for typed in ("²", "9" * 5000, "abc"):
        status, errors, page = submit({"namn": "Åsa", "antal": typed})
        assert status == 422 and errors == {"antal": "Måste vara ett heltal."}, (typed[:10], status, errors)
        assert f'value="{typed}"' in page
    status, errors, _ = submit({"namn": "x", "antal": "0", "val": "z"})
    assert status == 422 and errors == {
        "namn": "Måste vara minst 2 tecken.",
        "antal": "Måste vara minst 1.",
        "val": "Ogiltigt val; välj ett av alternativen.",
    }
    status, errors, _ = submit({})
    assert status == 422 and errors == {
        "namn": "Fältet är obligatoriskt.",
        "antal": "Fältet är obligatoriskt.",
    }
    status, errors, _ = submit({"namn": "Åsa", "antal": "99999999999999999999"})
    assert status == 422 and errors == {"antal": "Får vara högst 10."}
    assert submit({"namn": "Åsa", "antal": "3", "val": "b"})[0] == 302


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # no database involved: once is enough
def test_every_json_schema_form_message_has_an_english_text(app, db_url):
    """The REST API says the same problems in English (``webhooks.rest.errors.english``)."""
    from flask_babel import force_locale

    from engine.forms import validate_form
    from webhooks import engine_messages

    schema = {
        "type": "object",
        "required": ["a"],
        "additionalProperties": False,
        "properties": {
            "a": {"type": "number"},
            "b": {"type": "string", "pattern": "^[0-9]+$", "maxLength": 3},
            "c": {"type": ["integer", "null"], "maximum": 5},
            "d": {"type": "boolean"},
        },
    }
    cases = [
        ({}, "a", "This field is required."),
        ({"a": "x"}, "a", "Must be a number."),
        ({"a": 1, "b": "abc"}, "b", "Does not have the right form."),
        ({"a": 1, "b": "1234"}, "b", "Must be at most 3 characters."),
        ({"a": 1, "c": 6}, "c", "Must be at most 5."),
        ({"a": 1, "c": "x"}, "c", "Must be a whole number."),
        ({"a": 1, "d": "ja"}, "d", "Must be yes or no."),
        ({"a": 1, "e": 1}, "e", "Unknown field for this task."),
        ({"a": 1, "c": 2**63}, "c", "Must be at most 5."),
        ({"a": -(2**63) - 1}, "a", "Must be at least -9223372036854775808."),
    ]
    with app.test_request_context(), force_locale("en"):
        for data, field, english in cases:
            _clean, problems = validate_form({"schema": schema}, data)
            by_field = {p.where: engine_messages.translate(p.message) for p in problems}
            assert by_field.get(field) == english, (data, by_field)


def test_a_huge_user_name_is_neither_kept_nor_logged_nor_shown_again(app, staff, caplog):
    """Before: a failed sign-in as a 1 MB "user name" was kept whole by the failure count (for 15 minutes,
    up to 50 per address), logged whole at every attempt — also at each refused one — and sent back."""
    import logging

    caplog.set_level(logging.INFO)
    s = staff()
    s.get("/logga-in")
    huge = "anna" + "x" * 1_000_000
    for _ in range(3):
        r = s.post("/logga-in", {"username": huge, "password": "fel"})
        assert r.status_code == 401 and "Fel användarnamn eller lösenord." in r.get_data(as_text=True)
        assert len(r.get_data()) < 20_000
    accounts, _addresses = app.extensions["login_throttle"]
    assert accounts._hits and max(len(k) for k in accounts._hits) <= 101
    assert caplog.records and max(len(r.getMessage()) for r in caplog.records) < 500
    s.post("/logga-in", {"username": "anna", "password": "fel"})  # (the real account is not the huge one)
    assert s.login("anna").status_code == 302


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the cookie, not the database
def test_secure_cookies_as_the_environment_words_it(db_url, monkeypatch):
    """Before: only DELAKTIG_SECURE_COOKIES=1 meant on; "true" silently sent the session over plain HTTP."""
    from webhooks import create_app

    for value, secure in (("1", True), ("true", True), ("yes", True), ("0", False), ("false", False)):
        monkeypatch.setenv("DELAKTIG_SECURE_COOKIES", value)
        app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "k"})
        r = app.test_client().get("/logga-in")
        assert ("Secure" in r.headers["Set-Cookie"]) is secure, value
        assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
        app.extensions["delaktig"].dispose()
    monkeypatch.setenv("DELAKTIG_SECURE_COOKIES", "sant")
    with pytest.raises(ValueError, match="DELAKTIG_SECURE_COOKIES"):
        create_app({"DATABASE_URL": db_url, "SECRET_KEY": "k"})

"""The staff pages in a real browser: Debian's Chromium driven by Playwright against the app served by
a real WSGI server (waitress) on 127.0.0.1. Sign in, claim, submit a form with an error, fix it,
complete, then check the case page's timeline and the marked diagram. Screenshots go to
test-artifacts/screenshots/ (kept by CI as artifacts)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from tests.web.conftest import PASSWORD, ensure_user

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def server(app):
    srv = create_server(app, host="127.0.0.1", port=0, threads=4)
    port = srv.effective_port
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    srv.close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, name: str, db: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{db}.png"), full_page=True)


def test_sign_in_claim_fix_form_complete_and_see_the_case(app, engine, server, browser, db_url):
    db = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    ensure_user(app, "anna")
    info = engine.start_case(
        "test_initiativ", business_key="KS-2026/42", variables={"antal": 2}, actor="system"
    )
    engine.start_case("test_initiativ", business_key="KS-2026/43", actor="system")
    context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15_000)

    page.goto(f"{server}/uppgifter")
    expect(page).to_have_url(f"{server}/logga-in?next=/uppgifter")
    shot(page, "01-login", db)
    page.get_by_label("Användarnamn").fill("anna")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Uppgifter")).to_be_visible()

    page.get_by_role("link", name="Min grupps uppgifter").click()
    row = page.locator("tr", has_text="KS-2026/42")
    expect(row).to_be_visible()
    shot(page, "02-group-inbox", db)
    row.get_by_role("button", name="Ta").click()
    expect(page.get_by_text("Du har tagit uppgiften ”Granska initiativet”.")).to_be_visible()
    expect(page).to_have_url(f"{server}/uppgifter/{info.open_tasks[0]}")  # claiming opens the task
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Uppgifter").click()
    page.locator("tr", has_text="KS-2026/42").get_by_role("link", name="Granska initiativet").click()

    expect(page.get_by_role("heading", name="Instruktioner")).to_be_visible()
    page.get_by_label("Antal deltagare").fill("500")  # over max 100, and Kommentar (required) left empty
    page.get_by_label("Skäl").select_option("annat")
    page.get_by_role("button", name="Slutför uppgiften").click()
    expect(page.get_by_text("Formuläret innehåller fel")).to_be_visible()
    expect(page.locator("#e-kommentar")).to_contain_text("Fältet är obligatoriskt.")
    expect(page.locator("#e-antal")).to_contain_text("Får vara högst 100.")
    expect(page.get_by_label("Antal deltagare")).to_have_value("500")  # kept
    shot(page, "03-form-errors", db)

    page.locator("#error-summary a", has_text="Kommentar").click()  # the summary links to the field
    expect(page.locator("#f-kommentar")).to_be_focused()
    page.locator("#f-kommentar").fill("Frågan är påverkbar; bjud in till dialog.")
    page.get_by_label("Antal deltagare").fill("12")
    page.get_by_label("Är frågan påverkbar?").check()
    page.get_by_label("Mötesdatum").fill("2026-12-01")
    page.get_by_role("button", name="Slutför uppgiften").click()

    expect(page).to_have_url(f"{server}/arenden/{info.id}")
    expect(page.get_by_text("Uppgiften ”Granska initiativet” är slutförd.")).to_be_visible()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Uppgift slutförd: Granska initiativet")
    expect(timeline).to_contain_text("Uppgift tagen: Granska initiativet")
    expect(timeline.locator("li", has_text="Uppgift slutförd").locator(".changes")).to_contain_text(
        "antal: 2 → 12"
    )
    # the diagram: rendered by bpmn-js, Granska marked done, Beslut active, with text badges
    expect(page.locator("[data-bpmn-viewer][data-rendered=true]")).to_be_visible()
    expect(page.locator('g.djs-element.dk-completed[data-element-id="Granska"]')).to_have_count(1)
    expect(page.locator('g.djs-element.dk-active[data-element-id="Beslut"]')).to_have_count(1)
    expect(page.locator(".djs-overlay .dk-badge-active")).to_have_text("Pågår")
    expect(page.locator(".djs-overlay .dk-badge-completed").first).to_have_text("Klar")
    shot(page, "04-case-page", db)
    assert errors == []

    # keyboard: the skip link is the first stop and moves focus to the content
    page.goto(f"{server}/uppgifter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Hoppa till innehållet")).to_be_focused()
    shot(page, "05-inbox-focus", db)
    context.close()


def test_a_staff_form_is_sent_once(app, server, browser):
    """static/staff/forms.js: a second submit of a form while the first is on its way is cancelled, so a
    double click on "Starta" does not start two cases (the server cannot tell two clicks from two cases).
    Synthetic submit events do not send the form: they show what the page's handler does with each."""
    ensure_user(app, "anna")
    context = browser.new_context(locale="sv-SE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server}/logga-in?next=/starta")
    page.get_by_label("Användarnamn").fill("anna")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Starta rutin")).to_be_visible()
    page.wait_for_load_state("load")  # (the deferred script has run)
    sent = page.evaluate(
        """() => {
            const form = document.querySelector("form[action*='/starta/']");
            const submit = () => form.dispatchEvent(new Event("submit", {cancelable: true, bubbles: true}));
            return [submit(), submit(), form.getAttribute("aria-busy")];
        }"""
    )
    assert sent == [True, False, "true"]  # the first goes, the second is cancelled
    context.close()

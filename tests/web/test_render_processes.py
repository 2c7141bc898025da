"""Every routine in processes/ renders in bpmn-js (the committed viewer bundle) in real Chromium, with a
drawn shape for every flow node and an edge for every sequence flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from playwright.sync_api import expect

from engine.cli import deploy_all
from tests.web.conftest import PASSWORD, ensure_user
from tests.web.test_browser import browser, server, shot  # noqa: F401 - fixtures reused

pytestmark = pytest.mark.browser
PROCESSES = Path(__file__).resolve().parents[2] / "processes"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
NODES = (
    "userTask",
    "sendTask",
    "scriptTask",
    "task",
    "startEvent",
    "endEvent",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "intermediateCatchEvent",
    "boundaryEvent",
    "callActivity",
)


def drawn_ids(path: Path) -> set[str]:
    root = etree.parse(str(path)).getroot()
    return {el.get("id") for tag in (*NODES, "sequenceFlow") for el in root.iter(f"{BPMN}{tag}")}


def start_any(engine, key: str, message: str | None):
    if message:
        return engine.deliver_message(message, {"initiator_email": "x@example.se"}, start_business_key=key)[0]
    return engine.start_case(key, business_key=key)


# Rendering does not depend on the database (the walks on PostgreSQL are in tests/processes): SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_routine_renders_in_bpmn_js(app, engine, server, browser, db_url):  # noqa: F811
    deploy_all(engine)
    ensure_user(app, "rut")  # revisor: reads every case (the routines' tasks are for other roles)
    cases = []
    for path in sorted(PROCESSES.glob("*/*.bpmn")):
        root = etree.parse(str(path)).getroot()
        for process in root.iter(f"{BPMN}process"):
            messages = {m.get("id"): m.get("name") for m in root.iter(f"{BPMN}message")}
            start = next(process.iter(f"{BPMN}startEvent"))
            ref = start.find(f"{BPMN}messageEventDefinition")
            cases.append(
                (
                    path,
                    start_any(
                        engine,
                        process.get("id"),
                        messages.get(ref.get("messageRef")) if ref is not None else None,
                    ),
                )
            )
    context = browser.new_context(locale="sv-SE", viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(20_000)
    page.goto(f"{server}/logga-in")
    page.get_by_label("Användarnamn").fill("rut")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    assert len(cases) == 8
    for path, case in cases:
        page.goto(f"{server}/arenden/{case.id}")
        expect(page.locator("[data-bpmn-viewer][data-rendered='true']")).to_be_attached()
        rendered = set(
            page.eval_on_selector_all(
                "g.djs-element[data-element-id]", "els => els.map(e => e.getAttribute('data-element-id'))"
            )
        )
        missing = drawn_ids(path) - rendered
        assert not missing, f"{path.name}: not drawn by bpmn-js: {sorted(missing)}"
        shot(page, f"process-{path.parent.name}-{path.stem}", "sqlite")
    assert errors == []

"""A citizen's form registers once, however often it is posted: a double click or a browser resending it
gets the first initiative's receipt page, with no second diary number and no second mail. The same form
sent back with other text is a new initiative."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from engine.initiative_models import Initiative
from tests.conftest import count
from tests.intake.conftest import Client
from tests.intake.test_public import GOOD

SUBMISSION = re.compile(r'name="inlamning" value="([^"]+)"')


def _shown_form(client) -> dict:
    page = client.get("/initiativ").text
    return {**GOOD, "inlamning": SUBMISSION.search(page).group(1)}


def test_posting_one_form_twice_registers_one_initiative(client, d):
    fields = _shown_form(client)
    first = client.post_form("/initiativ", fields)
    again = client.post_form("/initiativ", fields)
    assert first.status == 200 and again.status == 200  # (the redirect to the receipt, followed)
    assert first.url.split("?")[0] == again.url.split("?")[0]
    assert count(d, Initiative) == 1
    edited = client.post_form("/initiativ", {**fields, "text": "Ett annat förslag om parken."})
    assert edited.status == 200 and edited.url.split("?")[0] != first.url.split("?")[0]
    assert count(d, Initiative) == 2


def test_parallel_posts_of_one_form_register_one_initiative(server, d):
    client = Client(server)
    fields = _shown_form(client)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: client.post_form("/initiativ", fields), range(4)))
    assert [r.status for r in replies] == [200] * 4
    assert len({r.url.split("?")[0] for r in replies}) == 1
    assert count(d, Initiative) == 1

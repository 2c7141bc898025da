"""GET /history/activity-instance over several cases: user tasks (from creation to completion or
cancellation), timers, start and end events; filters, sorting, paging and the count agree, and a page is
read as a page (LIMIT in the database), not by loading the whole audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from engine import clock
from tests.rest.conftest import basic
from tests.rest.test_tasks import GOOD, granska, start

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _acts(client, **params):
    r = client.get("/engine-rest/history/activity-instance", query_string=params, headers=basic("hanna"))
    assert r.status_code == 200, r.json
    return r.json


def _setup(client, engine):
    clock.set(T0)
    a, b, c = (start(client, bk) for bk in "ABC")
    clock.set(T0 + timedelta(hours=1))
    r = client.post(
        f"/engine-rest/task/{granska(client, a)}/complete", json={"variables": GOOD}, headers=basic("henrik")
    )
    assert r.status_code == 204
    clock.set(T0 + timedelta(days=8))  # Granska's non-interrupting 7-day reminder timer fires in B and C
    assert engine.wake_due_cases() == 2
    clock.set(T0 + timedelta(days=9))
    engine.cancel_case(c, "olle", "dubblett")
    return a, b, c


def test_activities_of_many_cases_filter_sort_and_page(client, engine, deployed):
    a, b, c = _setup(client, engine)
    everything = _acts(client)
    count = client.get("/engine-rest/history/activity-instance/count", headers=basic("hanna")).json["count"]
    assert count == len(everything) and count >= 9

    by_case = {cid: [x for x in everything if x["processInstanceId"] == cid] for cid in (a, b, c)}
    timers = [x for x in everything if x["activityType"] == "boundaryTimer"]
    assert sorted(x["processInstanceId"] for x in timers) == sorted([b, c])
    # The diagram's own element ids and names, and Camunda's activity types.
    assert {(x["activityId"], x["activityName"]) for x in timers} == {("Timer_paminn", "7 dagar")}
    starts = [x for x in everything if x["activityType"] == "startEvent"]
    assert {(x["activityId"], x["activityName"]) for x in starts} == {("StartEvent_1", "Initiativ inkommet")}
    assert len(starts) == 3
    [granska_c] = [x for x in by_case[c] if x["activityId"] == "Granska"]
    assert granska_c["canceled"] is True and granska_c["endTime"].startswith("2026-03-11T")
    [granska_a] = [x for x in by_case[a] if x["activityId"] == "Granska"]
    assert granska_a["canceled"] is False and granska_a["assignee"] == "henrik"
    assert granska_a["durationInMillis"] == 3_600_000
    # Each case in its own order of events: the start event first.
    assert all(rows[0]["activityType"] == "startEvent" for rows in by_case.values())

    # Pages are slices of the whole, in the same order.
    for first, size in ((0, 2), (2, 3), (5, 100)):
        assert _acts(client, firstResult=first, maxResults=size) == everything[first : first + size]

    newest_first = _acts(client, sortBy="startTime", sortOrder="desc")
    starts = [x["startTime"] for x in newest_first]
    assert starts == sorted(starts, reverse=True)
    by_end = _acts(client, sortBy="endTime", sortOrder="asc")
    ends = [x["endTime"] for x in by_end]
    unfinished = [x for x in ends if x is None]
    assert unfinished and ends[-len(unfinished) :] == unfinished  # no end: last, whatever the direction
    assert ends[: -len(unfinished)] == sorted(ends[: -len(unfinished)])

    finished = _acts(client, finished="true")
    assert finished and all(x["endTime"] for x in finished)
    assert len(finished) + len(_acts(client, unfinished="true")) == count
    assert [x["activityId"] for x in _acts(client, activityType="userTask", taskAssignee="henrik")] == [
        "Granska"
    ]


def test_a_page_is_read_as_a_page(client, engine, deployed):
    _setup(client, engine)
    statements: list[str] = []

    def capture(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    sa.event.listen(engine.db, "before_cursor_execute", capture)
    try:
        assert len(_acts(client, maxResults=2)) == 2
    finally:
        sa.event.remove(engine.db, "before_cursor_execute", capture)
    [query] = [st for st in statements if "audit_event" in st and "UNION ALL" in st.upper()]
    assert "LIMIT" in query.upper()


def test_events_carry_the_diagram_s_element_ids_and_camunda_s_types(client, engine, deployed):
    """Clients that draw a case's path (as Cockpit does) read activityId as the BPMN element id and
    activityType as Camunda's: the start event, a message caught, the end event, the message start."""
    from tests.conftest import fixture_bytes

    a = start(client, "A")
    h = basic("henrik")
    assert (
        client.post(
            f"/engine-rest/task/{granska(client, a)}/complete", json={"variables": GOOD}, headers=h
        ).status_code
        == 204
    )
    (beslut,) = client.get(
        "/engine-rest/task", query_string={"processInstanceId": a}, headers=basic("nils")
    ).json
    r = client.post(
        f"/engine-rest/task/{beslut['id']}/complete",
        json={"variables": {"beslut": {"value": "bifall", "type": "String"}}},
        headers=basic("nils"),
    )
    assert r.status_code == 204, r.json
    r = client.post(
        "/engine-rest/message", json={"messageName": "svar_mottaget", "businessKey": "A"}, headers=h
    )
    assert r.status_code in (200, 204), r.json
    acts = _acts(client, processInstanceId=a)
    events = [
        (x["activityId"], x["activityType"], x["activityName"])
        for x in acts
        if x["activityType"] != "userTask"
    ]
    assert events[0] == ("StartEvent_1", "startEvent", "Initiativ inkommet")
    assert ("VantaSvar", "intermediateMessageCatch", "Svar mottaget") in events
    assert events[-1] == ("End_klar", "noneEndEvent", "Klart")
    [end] = [x for x in acts if x["activityId"] == "End_klar"]
    assert end["completeScope"] is True
    assert (
        _acts(client, processInstanceId=a, activityType="intermediateMessageCatch")[0]["activityId"]
        == "VantaSvar"
    )
    hist = client.get(f"/engine-rest/history/process-instance/{a}", headers=h).json
    assert hist["startActivityId"] == "StartEvent_1" and hist["state"] == "COMPLETED"

    # A case started by a message begins at its message start event.
    engine.deploy(fixture_bytes("message_start.bpmn"), "synpunkt.bpmn", "olle")
    r = client.post(
        "/engine-rest/message",
        json={"messageName": "synpunkt_inkommen", "businessKey": "S-1", "resultEnabled": True},
        headers=basic("hanna"),
    )
    assert r.status_code == 200, r.json
    s1 = r.json[0]["processInstance"]["id"]
    [first] = _acts(client, processInstanceId=s1, activityType="messageStartEvent")
    assert (first["activityId"], first["activityName"]) == ("Inkommen", "Synpunkt inkommen")
    listed = client.get(
        "/engine-rest/history/process-instance", query_string={"processInstanceId": s1}, headers=h
    )
    assert [x["startActivityId"] for x in listed.json] == ["Inkommen"]

"""Replays the exact HTTP requests Camunda Modeler 5 sends (client/src/plugins/camunda-plugin/shared/
CamundaAPI.js: checkConnection → GET /deployment?maxResults=0, getVersion → GET /version, deployDiagram →
multipart POST /deployment/create, startInstance → POST /process-definition/{id}/start) byte for byte
over a real socket, the way Chromium's fetch() encodes a FormData."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlsplit

from tests.conftest import fixture_bytes
from tests.rest.conftest import PASSWORD

BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"


def modeler_form(diagram_name: str, diagram: bytes, name: str, tenant: str | None = None, extra=()) -> bytes:
    """FormData as Modeler fills it: name, source, duplicate filtering, tenant (if any), the diagram."""
    fields = [
        ("deployment-name", name),
        ("deployment-source", "Camunda Modeler"),
        ("enable-duplicate-filtering", "true"),
    ]
    if tenant:
        fields.append(("tenant-id", tenant))
    fields += list(extra)
    out = b""
    for key, value in fields:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    out += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{diagram_name}"; filename="{diagram_name}"\r\n'
        "Content-Type: text/xml\r\n\r\n"
    ).encode()
    out += diagram + f"\r\n--{BOUNDARY}--\r\n".encode()
    return out


def send(
    base: str, method: str, path: str, body: bytes | None = None, user: str | None = "olle", headers=None
):
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    h = {"accept": "application/json", "User-Agent": "Mozilla/5.0 camunda-modeler/5.31.0 Electron"}
    if user:
        h["authorization"] = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    if body is not None and headers is None:
        h["content-type"] = f"multipart/form-data; boundary={BOUNDARY}"
    h.update(headers or {})
    conn.request(method, url.path + path, body=body, headers=h)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), (json.loads(data) if data else None)


def test_modeler_connects_deploys_and_starts(server, engine):
    assert send(server, "GET", "/deployment?maxResults=0")[::2] == (200, [])
    assert send(server, "GET", "/version")[2]["version"].startswith("7.")
    xml = fixture_bytes("initiativ.bpmn")

    status, headers, first = send(
        server, "POST", "/deployment/create", modeler_form("initiativ.bpmn", xml, "initiativ")
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert first["source"] == "Camunda Modeler" and first["name"] == "initiativ"
    (definition,) = first["deployedProcessDefinitions"].values()
    assert (definition["key"], definition["version"], definition["resource"]) == (
        "test_initiativ",
        1,
        "initiativ.bpmn",
    )

    # Deploy pressed again on the unchanged file: nothing new, the same deployment and definition.
    status, _, again = send(
        server, "POST", "/deployment/create", modeler_form("initiativ.bpmn", xml, "initiativ")
    )
    assert status == 200 and again["id"] == first["id"]
    assert list(again["deployedProcessDefinitions"]) == [definition["id"]]
    # Scripts add deploy-changed-only: same answer.
    status, _, scripted = send(
        server,
        "POST",
        "/deployment/create",
        modeler_form("initiativ.bpmn", xml, "initiativ", extra=[("deploy-changed-only", "true")]),
    )
    assert status == 200 and list(scripted["deployedProcessDefinitions"]) == [definition["id"]]
    assert len(send(server, "GET", "/deployment")[2]) == 1

    changed = xml.replace(b'name="Fatta beslut"', 'name="Fatta beslut i nämnden"'.encode())
    status, _, second = send(
        server, "POST", "/deployment/create", modeler_form("initiativ.bpmn", changed, "initiativ")
    )
    assert status == 200 and second["id"] != first["id"]
    assert [d["version"] for d in second["deployedProcessDefinitions"].values()] == [2]
    (v2,) = second["deployedProcessDefinitions"].values()

    status, _, resources = send(server, "GET", f"/deployment/{second['id']}/resources")
    assert status == 200 and [r["name"] for r in resources] == ["initiativ.bpmn"]
    status, _, xml_dto = send(server, "GET", f"/process-definition/{v2['id']}/xml")
    assert "Fatta beslut i nämnden" in xml_dto["bpmn20Xml"]

    # Modeler's "Start instance" after deploying: as a user with a starter role of the routine (the
    # staff pages' rule); a process owner who works in none of its roles may deploy it, not start it.
    start = json.dumps({"businessKey": "MOD-1", "variables": {}}).encode()
    json_type = {"content-type": "application/json"}
    status, _, refused = send(
        server, "POST", f"/process-definition/{v2['id']}/start", start, headers=json_type
    )
    assert status == 403 and refused["type"] == "AuthorizationException"
    engine.add_user("pia", PASSWORD, ["processagare", "handlaggare"])
    status, _, started = send(
        server, "POST", f"/process-definition/{v2['id']}/start", start, user="pia", headers=json_type
    )
    assert status == 200 and started["definitionId"] == v2["id"] and started["businessKey"] == "MOD-1"


def test_modeler_sees_parse_errors_with_element_ids(server, engine):
    broken = fixture_bytes("initiativ.bpmn").replace(b"summa = (antal or 0)", b"summa = (antal or 0")
    status, _, body = send(
        server, "POST", "/deployment/create", modeler_form("initiativ.bpmn", broken, "initiativ")
    )
    assert status == 400 and body["type"] == "ParseException"
    # Modeler shows "Server could not parse the diagram" for exactly this prefix, with the message.
    assert body["message"].startswith("ENGINE-09005 Could not parse BPMN process.")
    assert "Berakna" in body["message"]
    (error,) = body["details"]["initiativ.bpmn"]["errors"]
    assert error["mainElementId"] == "Berakna" and error["elementIds"] == ["Berakna"]
    assert send(server, "GET", "/deployment")[2] == []


def test_modeler_credentials_and_rights(server):
    xml = fixture_bytes("initiativ.bpmn")
    form = modeler_form("initiativ.bpmn", xml, "initiativ")
    status, headers, _ = send(server, "POST", "/deployment/create", form, user=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    status, headers, _ = send(
        server,
        "GET",
        "/deployment?maxResults=0",
        user=None,
        headers={"authorization": "Basic " + base64.b64encode(b"olle:fel").decode()},
    )
    assert status == 401
    status, _, body = send(server, "POST", "/deployment/create", form, user="hanna")
    assert status == 403 and body["type"] == "AuthorizationException" and body["userId"] == "hanna"
    assert send(server, "GET", "/deployment")[2] == []


def test_malformed_deploy_requests(server):
    broken_multipart = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x.bpmn"; filename="x.bpmn"\r\n\r\n<bpmn'.encode()
    status, _, body = send(server, "POST", "/deployment/create", broken_multipart)
    assert status == 400 and body["type"] == "InvalidRequestException"
    status, _, body = send(
        server, "POST", "/deployment/create", b"{}", headers={"content-type": "application/json"}
    )
    assert status == 400 and body["type"] == "InvalidRequestException"
    only_fields = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="deployment-name"\r\n\r\nx\r\n--{BOUNDARY}--\r\n'.encode()
    status, _, body = send(server, "POST", "/deployment/create", only_fields)
    assert status == 400 and body["message"] == "No deployment resources contained in the form upload."
    dmn = modeler_form(
        "beslut.dmn", b"<definitions xmlns='https://www.omg.org/spec/DMN/20191111/MODEL/'/>", "dmn"
    )
    status, _, body = send(server, "POST", "/deployment/create", dmn)
    assert status == 400 and "beslut.dmn" in body["message"]

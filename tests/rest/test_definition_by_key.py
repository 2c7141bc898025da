"""An unknown process definition key answers as Camunda 7.22's ``getProcessDefinitionByKey`` does: every
``/process-definition/key/{key}/…`` resource goes through it, and it throws
``RestException(Status.NOT_FOUND, "No matching process definition with key: … and no tenant-id")`` — a
404 whose type is ``RestException`` — before the request body is looked at. (By id the answer is an
``InvalidRequestException`` 404: ``ProcessDefinitionResourceImpl.getProcessDefinition``.)"""

from __future__ import annotations

import pytest

from tests.rest.conftest import basic
from tests.rest.test_bad_input import cases

H = basic("hanna")
MESSAGE = "No matching process definition with key: saknas and no tenant-id"
BAD_BODY = {"variables": {"antal": {"value": "fyra", "type": "Integer"}}, "okänt": 1}


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/engine-rest/process-definition/key/saknas", None),
        ("get", "/engine-rest/process-definition/key/saknas/xml", None),
        ("post", "/engine-rest/process-definition/key/saknas/start", {}),
        ("post", "/engine-rest/process-definition/key/saknas/start", BAD_BODY),
        ("post", "/engine-rest/process-definition/key/saknas/submit-form", {}),
        ("post", "/engine-rest/process-definition/key/saknas/submit-form", BAD_BODY),
    ],
)
def test_an_unknown_key_is_camundas_rest_exception_404(client, engine, deployed, method, path, body):
    r = getattr(client, method)(path, json=body, headers=H)
    assert r.status_code == 404, r.json
    assert r.json == {"type": "RestException", "message": MESSAGE, "code": 0}
    assert cases(engine) == 0


def test_a_known_key_still_answers_and_an_unknown_id_keeps_its_own_answer(client, engine, deployed):
    r = client.get("/engine-rest/process-definition/key/test_initiativ", headers=H)
    assert r.status_code == 200 and r.json["id"] == deployed.id, r.json
    # A known key with a bad body is the body's 400, not a 404.
    r = client.post("/engine-rest/process-definition/key/test_initiativ/start", json=BAD_BODY, headers=H)
    assert r.status_code == 400 and r.json["type"] == "InvalidRequestException", r.json
    r = client.post("/engine-rest/process-definition/key/test_initiativ/start", json={}, headers=H)
    assert r.status_code == 200 and cases(engine) == 1, r.json
    r = client.get("/engine-rest/process-definition/saknas:1:x", headers=H)
    assert r.status_code == 404 and r.json["type"] == "InvalidRequestException", r.json
    assert r.json["message"] == "No matching definition with id saknas:1:x"

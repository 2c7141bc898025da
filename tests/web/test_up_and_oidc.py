"""`delaktig up` serves the staff app on a fresh data directory; OIDC sign-in against a provider served
locally by werkzeug (metadata, JWKS, token endpoint issuing signed id_tokens)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.web.conftest import Staff, html
from tests.web.test_frontend_and_serve import ROOT, _free_port, _wait
from webhooks import create_app


def test_delaktig_up_serves_the_staff_app_on_sqlite(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DELAKTIG_DATA_DIR"] = str(tmp_path)
    up = Path(sys.executable).parent / "delaktig"
    proc = subprocess.Popen(
        [str(up), "up", "--no-workers", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = _wait(f"http://127.0.0.1:{port}/logga-in", proc).decode()
        assert "Logga in" in body and (tmp_path / "delaktig.db").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=20)[0].decode()
    assert "Delaktig körs på http://127.0.0.1:" in out


@pytest.fixture
def provider():
    """A minimal OpenID provider on loopback: metadata, a JWKS and a token endpoint that issues an RS256
    id_token for the claims and nonce the test sets in ``provider.issue``."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048)
    issue: dict = {}

    @Request.application
    def app(request):
        base = f"http://127.0.0.1:{server.server_port}"
        if request.path == "/.well-known/openid-configuration":
            return Response(
                json.dumps(
                    {
                        "issuer": base,
                        "authorization_endpoint": f"{base}/authorize",
                        "token_endpoint": f"{base}/token",
                        "jwks_uri": f"{base}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                ),
                mimetype="application/json",
            )
        if request.path == "/jwks":
            public = key.as_dict(private=False)
            return Response(json.dumps({"keys": [{**public, "kid": "k1"}]}), mimetype="application/json")
        if request.path == "/token" and request.method == "POST" and request.form.get("code") == "good-code":
            now = int(time.time())
            claims = {"iss": base, "aud": "delaktig", "iat": now, "exp": now + 300, **issue}
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            body = {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
            return Response(json.dumps(body), mimetype="application/json")
        return Response("not found", status=404)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    yield type("Provider", (str,), {"issue": issue})(url)
    server.shutdown()
    thread.join(timeout=10)


def oidc_app(db_url: str, provider: str):
    return create_app(
        {
            "DATABASE_URL": db_url,
            "SECRET_KEY": "k",
            "OIDC_METADATA_URL": f"{provider}/.well-known/openid-configuration",
            "OIDC_CLIENT_ID": "delaktig",
            "OIDC_CLIENT_SECRET": "s3cret",
        }
    )


def test_oidc_sign_in_redirects_to_the_provider_with_state_and_nonce(d, db_url, provider):
    app = oidc_app(db_url, provider)
    s = Staff(app)
    assert "Logga in med organisationens konto" in html(s.get("/logga-in"))
    r = s.get("/logga-in/oidc?next=/starta")
    assert r.status_code == 302
    url = urlparse(r.location)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{provider}/authorize"
    query = parse_qs(url.query)
    assert query["client_id"] == ["delaktig"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://localhost/logga-in/oidc/klar"]
    assert "openid" in query["scope"][0] and query["state"] and query["nonce"]
    # a callback with a forged state is refused and signs nobody in
    r = s.get("/logga-in/oidc/klar?code=x&state=forged")
    assert r.status_code == 400 and "misslyckades" in html(r)
    assert s.get("/uppgifter").status_code == 302
    app.extensions["delaktig"].dispose()


def test_oidc_sign_in_round_trip_signs_the_user_in_with_the_providers_roles(d, db_url, provider):
    """Authorize → callback with the provider's code → signed id_token (nonce checked) → signed in, with
    the roles from the token; a deactivated local account is refused even with a valid token."""
    app = oidc_app(db_url, provider)
    s = Staff(app)
    r = s.get("/logga-in/oidc?next=/starta")
    query = parse_qs(urlparse(r.location).query)
    provider.issue.update(
        sub="u-1", preferred_username="Olle", name="Olle Oidc", roles=["handlaggare"], nonce=query["nonce"][0]
    )
    r = s.get(f"/logga-in/oidc/klar?code=good-code&state={query['state'][0]}")
    assert r.status_code == 302 and r.location.endswith("/starta")
    page = s.get("/uppgifter")
    assert page.status_code == 200 and "Inga uppgifter" in html(page)
    with s.c.session_transaction() as sess:
        assert (sess["user"], sess["auth"], sess["display_name"]) == ("olle", "oidc", "Olle Oidc")
        assert sess["oidc_roles"] == ["handlaggare"]

    # A valid token with the wrong nonce (a replayed token) signs nobody in.
    s2 = Staff(app)
    r = s2.get("/logga-in/oidc")
    query = parse_qs(urlparse(r.location).query)
    provider.issue["nonce"] = "replayed"
    r = s2.get(f"/logga-in/oidc/klar?code=good-code&state={query['state'][0]}")
    assert r.status_code == 400 and s2.get("/uppgifter").status_code == 302

    # A deactivated local account cannot come back through OIDC.
    d.add_user("olle", None, ["handlaggare"])
    from engine.models import User

    with d.Session() as session, session.begin():
        session.query(User).filter(User.name == "olle").update({"active": False})
    s3 = Staff(app)
    r = s3.get("/logga-in/oidc")
    query = parse_qs(urlparse(r.location).query)
    provider.issue["nonce"] = query["nonce"][0]
    r = s3.get(f"/logga-in/oidc/klar?code=good-code&state={query['state'][0]}")
    assert r.status_code == 403 and s3.get("/uppgifter").status_code == 302
    app.extensions["delaktig"].dispose()

"""`delaktig up` serves the staff app on a fresh data directory; OIDC sign-in redirects to the provider
named by the environment's metadata URL (a provider served locally by werkzeug)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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
    @Request.application
    def app(request):
        base = f"http://127.0.0.1:{server.server_port}"
        if request.path == "/.well-known/openid-configuration":
            return Response(
                f'{{"issuer": "{base}", "authorization_endpoint": "{base}/authorize", '
                f'"token_endpoint": "{base}/token", "jwks_uri": "{base}/jwks"}}',
                mimetype="application/json",
            )
        return Response("not found", status=404)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_oidc_sign_in_redirects_to_the_provider_with_state_and_nonce(d, db_url, provider):
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "SECRET_KEY": "k",
            "OIDC_METADATA_URL": f"{provider}/.well-known/openid-configuration",
            "OIDC_CLIENT_ID": "delaktig",
            "OIDC_CLIENT_SECRET": "s3cret",
        }
    )
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

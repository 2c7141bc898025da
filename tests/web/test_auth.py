"""Sign-in, sessions, sign-out, language."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, Staff, ensure_user, html


def test_pages_need_sign_in_and_come_back_after_it(app):
    s = Staff(app)
    for url in ("/", "/uppgifter", "/starta", "/arenden/x", "/uppgifter/x"):
        r = s.get(url)
        assert r.status_code == 302
        assert r.location.startswith("/logga-in") or r.location == "/uppgifter"
    ensure_user(app, "anna")
    r = s.get("/uppgifter?lista=grupp")
    assert r.location == "/logga-in?next=/uppgifter?lista%3Dgrupp"
    s.get(r.location)
    r = s.post("/logga-in", {"username": "anna", "password": PASSWORD, "next": "/uppgifter?lista=grupp"})
    assert r.status_code == 302 and r.location == "/uppgifter?lista=grupp"


def test_wrong_password_unknown_user_and_empty_form_say_so_in_swedish(app):
    ensure_user(app, "anna")
    s = Staff(app)
    s.get("/logga-in")
    for data in ({"username": "anna", "password": "fel"}, {"username": "nobody", "password": PASSWORD}, {}):
        r = s.post("/logga-in", data)
        assert r.status_code == 401
        assert "Fel användarnamn eller lösenord." in html(r)
        assert s.get("/uppgifter").status_code == 302  # still signed out
    r = s.post("/logga-in", {"username": "anna", "password": "fel"})
    assert 'value="anna"' in html(r)  # the name is kept


def test_sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it(app):
    ensure_user(app, "anna")
    s = Staff(app)
    s.get("/logga-in")
    r = s.post("/logga-in", {"username": "anna", "password": PASSWORD})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "delaktig_session=" in cookie
    s.get("/uppgifter")
    assert s.get("/uppgifter").status_code == 200
    r = s.post("/logga-ut")
    assert r.status_code == 302 and r.location == "/logga-in"
    assert "Du är utloggad." in html(s.get("/logga-in"))
    assert s.get("/uppgifter").status_code == 302


def test_secure_cookie_flag_when_configured(d, db_url):
    from webhooks import create_app

    app = create_app({"DATABASE_URL": db_url, "SESSION_COOKIE_SECURE": True, "SECRET_KEY": "k"})
    app.extensions["delaktig"].add_user("anna", PASSWORD, ["handlaggare"])
    s = Staff(app)
    s.get("/logga-in")
    r = s.post("/logga-in", {"username": "anna", "password": PASSWORD})
    assert "Secure" in r.headers["Set-Cookie"]
    app.extensions["delaktig"].dispose()


def test_sign_in_refuses_open_redirects(app):
    ensure_user(app, "anna")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        s = Staff(app)
        s.get("/logga-in")
        r = s.post("/logga-in", {"username": "anna", "password": PASSWORD, "next": evil})
        assert r.location == "/uppgifter"


def test_signed_in_user_visiting_login_goes_to_the_inbox(staff):
    s = staff("anna")
    r = s.get("/logga-in")
    assert r.status_code == 302 and r.location == "/uppgifter"


def test_a_deactivated_account_is_signed_out(app, staff, engine):
    import sqlalchemy as sa

    from engine.models import User

    s = staff("anna")
    with engine.db.begin() as conn:
        conn.execute(sa.update(User).where(User.name == "anna").values(active=False))
    assert s.get("/uppgifter").status_code == 302


def test_language_switch_to_english_and_back(staff):
    s = staff("anna")
    assert "Mina uppgifter" in html(s.get("/uppgifter"))
    r = s.post("/sprak", {"lang": "en", "next": "/uppgifter"})
    assert r.status_code == 302 and r.location == "/uppgifter"
    page = html(s.get("/uppgifter"))
    assert "My tasks" in page and '<html lang="en">' in page
    s.post("/sprak", {"lang": "sv"})
    assert '<html lang="sv">' in html(s.get("/uppgifter"))
    r = s.post("/sprak", {"lang": "xx"})
    assert r.status_code == 400 and "Okänt språk." in html(r)


def test_oidc_routes_are_404_when_not_configured(app):
    s = Staff(app)
    assert "organisationens konto" not in html(s.get("/logga-in"))
    assert s.get("/logga-in/oidc").status_code == 404
    assert s.get("/logga-in/oidc/klar").status_code == 404

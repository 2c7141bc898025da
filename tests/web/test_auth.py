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


# Browsers drop tabs and newlines from a URL and read a backslash as a slash: each of these is another
# site to them (or, with CR or LF, cannot go into a Location header at all: was a 500).
EVIL_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example/phish",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\nSet-Cookie: x=1",
    "/ /evil.example",
    "/\x0b/evil.example",
    "/\u2028/evil.example",
    " //evil.example",
    "javascript:alert(1)",
]


def test_sign_in_refuses_open_redirects(app):
    ensure_user(app, "anna")
    for evil in EVIL_NEXT:
        s = Staff(app)
        s.get("/logga-in")
        r = s.post("/logga-in", {"username": "anna", "password": PASSWORD, "next": evil})
        assert r.status_code == 302 and r.location == "/uppgifter", repr(evil)


def test_every_next_parameter_refuses_other_sites_and_control_characters(app, staff, engine):
    """Signed in: the sign-in page (GET), the language switch and claiming and unclaiming a task all fall
    back to their default instead of following ``next`` (was a redirect to evil.example, or a 500)."""
    info = engine.start_case("test_initiativ", business_key="KS-2026/5", actor="system")
    [task] = info.open_tasks
    s = staff("anna")
    for evil in EVIL_NEXT:
        r = s.get("/logga-in", query_string={"next": evil})
        assert (r.status_code, r.location) == (302, "/uppgifter"), repr(evil)
        r = s.post("/sprak", {"lang": "sv", "next": evil})
        assert (r.status_code, r.location) == (302, "/uppgifter"), repr(evil)
        r = s.post(f"/uppgifter/{task}/ta", {"next": evil})
        assert (r.status_code, r.location) == (302, f"/uppgifter/{task}"), repr(evil)
        r = s.post(f"/uppgifter/{task}/lamna", {"next": evil})
        assert (r.status_code, r.location) == (302, "/uppgifter?lista=grupp"), repr(evil)
    # a plain path of the site is still followed
    assert (
        s.get("/logga-in", query_string={"next": "/arenden/x?flik=data"}).location == "/arenden/x?flik=data"
    )
    assert s.post(f"/uppgifter/{task}/ta", {"next": "/uppgifter"}).location == "/uppgifter"


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


def test_a_copied_session_cookie_stops_working_after_sign_out(app, staff):
    """The cookie is signed, not stored: signing out raises the account's session generation, so a copy
    of the cookie (another device, a stolen one) is refused from then on."""
    s = staff("anna")
    copy = Staff(app)
    copy.c.set_cookie("delaktig_session", s.c.get_cookie("delaktig_session").value)
    assert copy.get("/uppgifter").status_code == 200
    assert s.post("/logga-ut").status_code == 302
    r = copy.get("/uppgifter")
    assert r.status_code == 302 and r.location.startswith("/logga-in")
    assert copy.get("/personal/initiativ/").status_code == 302
    s.login("anna")  # signing in again gives a session of the new generation
    assert s.get("/uppgifter").status_code == 200


def test_failed_sign_ins_are_throttled_per_account_and_per_address(app):
    from webhooks.intake.ratelimit import RateLimiter

    now = [0.0]
    app.extensions["login_throttle"] = (
        RateLimiter(3, 900, clock=lambda: now[0]),
        RateLimiter(5, 900, clock=lambda: now[0]),
    )
    for name in ("anna", "annika", "bertil"):
        ensure_user(app, name)
    s = Staff(app)
    s.get("/logga-in")
    for _ in range(3):
        assert s.post("/logga-in", {"username": "anna", "password": "fel"}).status_code == 401
    r = s.post("/logga-in", {"username": "anna", "password": PASSWORD})  # even the right password
    assert r.status_code == 429
    assert "För många misslyckade inloggningar. Vänta en stund och försök igen." in html(r)
    assert s.get("/uppgifter").status_code == 302
    # another account from the same address still signs in; then the address reaches its limit
    other = Staff(app)
    other.get("/logga-in")
    assert other.post("/logga-in", {"username": "annika", "password": PASSWORD}).status_code == 302
    for _ in range(2):
        assert s.post("/logga-in", {"username": "annika", "password": "fel"}).status_code == 401
    assert s.post("/logga-in", {"username": "bertil", "password": PASSWORD}).status_code == 429
    elsewhere = {"REMOTE_ADDR": "192.0.2.44"}
    away = Staff(app)
    away.get("/logga-in", environ_base=elsewhere)
    r = away.post("/logga-in", {"username": "bertil", "password": PASSWORD}, environ_base=elsewhere)
    assert r.status_code == 302
    now[0] += 901  # the failures have left the window
    assert s.post("/logga-in", {"username": "anna", "password": PASSWORD}).status_code == 302


def test_sign_in_limits_come_from_the_config(d, db_url):
    from webhooks import create_app

    app = create_app(
        {
            "DATABASE_URL": db_url,
            "SECRET_KEY": "k",
            "LOGIN_FAILURES": "2/60",
            "LOGIN_FAILURES_PER_ADDRESS": "7/30",
        }
    )
    accounts, addresses = app.extensions["login_throttle"]
    assert (accounts.limit, accounts.window, addresses.limit, addresses.window) == (2, 60, 7, 30)
    app.extensions["delaktig"].dispose()

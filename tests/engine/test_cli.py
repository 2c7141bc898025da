"""The delaktig command line, run as a real subprocess against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import FIXTURES


def run(db_url, *args, input=None):
    env = {**os.environ, "DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=120,
    )


def test_cli_deploy_lint_users_audit(d, db_url, tmp_path):
    assert run(db_url, "db", "upgrade").returncode == 0
    ok = run(db_url, "deploy", str(FIXTURES / "initiativ.bpmn"))
    assert ok.returncode == 0 and "test_initiativ version 1 (ny version)" in ok.stdout
    again = run(db_url, "deploy", str(FIXTURES / "initiativ.bpmn"))
    assert "version 1 (oförändrad" in again.stdout

    bad = tmp_path / "bad.bpmn"
    bad.write_bytes((FIXTURES / "initiativ.bpmn").read_bytes().replace(b"P7D", b"sju dagar"))
    failed = run(db_url, "deploy", str(bad))
    assert failed.returncode == 1 and "Timer_paminn" in failed.stderr and "sju dagar" in failed.stderr
    assert run(db_url, "lint", str(bad)).returncode == 1
    lint = run(db_url, "lint", "--strict", str(FIXTURES / "initiativ.bpmn"))
    assert lint.returncode == 0 and "OK" in lint.stdout
    missing = run(db_url, "deploy", str(tmp_path / "finns-inte.bpmn"))
    assert missing.returncode == 1 and "kan inte läsa" in missing.stderr

    added = run(db_url, "users", "add", "hanna", "--role", "handlaggare", "--generate")
    assert added.returncode == 0 and "Lösenord:" in added.stdout
    password = added.stdout.split("Lösenord:")[1].strip()
    assert d.authenticate("hanna", password) is not None
    assert run(db_url, "users", "add", "hanna", "--password", "hemligt123").returncode == 1

    verified = run(db_url, "audit", "verify")
    assert verified.returncode == 0 and "obruten" in verified.stdout


def test_cli_mail_mode_per_user(d, db_url):
    from engine.reminder_models import UserPreference

    d.add_user("hanna", "hemligt123", ["handlaggare"])
    done = run(db_url, "users", "mail-mode", "hanna", "digest")
    assert done.returncode == 0 and "daglig sammanfattning" in done.stdout
    with d.session() as s:
        assert s.get(UserPreference, "hanna").mail_mode == "digest"
    missing = run(db_url, "users", "mail-mode", "okand", "digest")
    assert missing.returncode == 1 and "finns inte" in missing.stderr
    assert run(db_url, "users", "mail-mode", "hanna", "ibland").returncode == 2

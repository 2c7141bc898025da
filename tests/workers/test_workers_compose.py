"""docker-compose.yml is checked by parsing (Docker cannot run here): services, health checks, order."""

from __future__ import annotations

import re

import yaml
from conftest import ROOT


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_has_the_production_services_with_health_checks():
    services = compose()["services"]
    assert {"db", "redis", "web", "worker", "mail-worker", "beat", "mailpit", "migrate"} <= set(services)
    for name in ("db", "redis", "web", "worker", "mail-worker", "beat", "mailpit"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert check["interval"] and check["retries"] >= 3, name
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "workers", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "workers", "beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "replicas" not in services["worker"].get("deploy", {})  # workers scale out


def test_app_services_wait_for_healthy_db_redis_and_migrations():
    services = compose()["services"]
    for name in ("web", "worker", "mail-worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["db"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["env_file"] == ".env"
    assert "delaktig db upgrade" in " ".join(services["migrate"]["command"])


def test_volumes_and_env_file_match():
    doc = compose()
    declared = set(doc["volumes"])
    used = {
        v.split(":")[0]
        for s in doc["services"].values()
        for v in s.get("volumes", [])
        if not v.startswith((".", "/"))
    }
    assert used and used <= declared
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    keys = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "DELAKTIG_SMTP_HOST",
        "DELAKTIG_SMTP_PORT",
        "POSTGRES_PASSWORD",
    } <= keys
    assert "redis://redis:6379" in example and "@db:5432/" in example
    assert (ROOT / "Dockerfile").read_text().startswith("# Delaktig")


def test_dockerfile_installs_what_pyproject_pins():
    """A version named in the Dockerfile's ``pip install`` must be the one pyproject.toml pins: pip
    refuses two different pins of one package, and the image would not build."""
    import tomllib

    from packaging.requirements import Requirement

    pins = {
        Requirement(r).name.lower(): Requirement(r)
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN pip install (.+)$", dockerfile, re.M)
    assert installs, "the Dockerfile installs Delaktig with pip"
    assert any("." in line.split() for line in installs)  # the project itself, with its pins
    for line in installs:
        for word in line.split():
            if word == "." or word.startswith("-"):
                continue
            named = Requirement(word.strip("\"'"))
            pinned = pins.get(named.name.lower())
            if pinned is not None:
                (version,) = [s.version for s in pinned.specifier]
                assert named.specifier.contains(version), f"Dockerfile {named} vs pyproject {pinned}"

"""The ``delaktig`` command line.

``delaktig up`` starts the web app and the workers as child processes by module name, so the engine
never imports ``webhooks`` or ``workers`` (the import contract stays true).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from engine.app import Delaktig
from engine.config import Settings
from engine.errors import DelaktigError, ValidationFailed

PROCESSES_DIR = Path(__file__).resolve().parent.parent / "processes"


def _app() -> Delaktig:
    return Delaktig(settings=Settings.from_env())


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@click.group(help="Delaktig — medborgardialog som körbara processer.")
def main() -> None:
    pass


@main.group(help="Databasen.")
def db() -> None:
    pass


@db.command("upgrade", help="Kör databasmigreringarna (Alembic) till senaste versionen.")
def db_upgrade() -> None:
    app = _app()
    app.upgrade()
    click.echo(f"Databasen är uppgraderad ({app.dialect}).")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        _fail(f"{path}: kan inte läsa filen: {err.strerror}")
    raise AssertionError  # unreachable


@main.command(help="Driftsätt BPMN-filer; skriver nyckel och version, eller felen med element-id.")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option(
    "--by", "deployed_by", default=lambda: os.environ.get("USER", "cli"), help="Vem som driftsätter."
)
def deploy(files: tuple[str, ...], deployed_by: str) -> None:
    app = _app()
    failed = False
    for path in files:
        try:
            for info in app.deploy(_read(path), Path(path).name, deployed_by, source="cli"):
                note = "ny version" if info.created else "oförändrad, befintlig version"
                click.echo(f"{path}: {info.key} version {info.version} ({note})")
        except ValidationFailed as err:
            failed = True
            for problem in err.problems:
                click.echo(f"{path}: {problem.where}: {problem.message}", err=True)
        except DelaktigError as err:
            failed = True
            click.echo(f"{path}: {err}", err=True)
    sys.exit(1 if failed else 0)


@main.command(help="Validera BPMN-filer utan att driftsätta dem.")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--strict", is_flag=True, help="Kräv också fullständig BPMN DI (figurer för alla element).")
def lint(files: tuple[str, ...], strict: bool) -> None:
    from engine.bpmn.compile import compile_bpmn, missing_di

    failed = False
    for path in files:
        try:
            compiled = compile_bpmn(_read(path), Path(path).name)
            problems = list(compiled.problems) + (missing_di(compiled.root) if strict else [])
        except ValidationFailed as err:
            problems = err.problems
        for problem in problems:
            click.echo(f"{path}: {problem.where}: {problem.message}", err=True)
        if problems:
            failed = True
        else:
            click.echo(f"{path}: OK ({', '.join(compiled.process_ids)})")
    sys.exit(1 if failed else 0)


@main.group(help="Användare och roller.")
def users() -> None:
    pass


@users.command("add", help="Lägg till en användare med roller (rollnamn = kandidatgrupper i diagrammen).")
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="Roll; kan anges flera gånger.")
@click.option("--email", default=None)
@click.option(
    "--password", default=None, help="Utelämna för att bli tillfrågad (eller slumpa med --generate)."
)
@click.option("--generate", is_flag=True, help="Skapa ett slumpat lösenord och skriv ut det.")
def users_add(
    name: str, roles: tuple[str, ...], email: str | None, password: str | None, generate: bool
) -> None:
    if generate:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("Lösenord", hide_input=True, confirmation_prompt=True)
    try:
        _app().add_user(name, password, list(roles), email=email)
    except DelaktigError as err:
        _fail(f"{name}: {err}")
    click.echo(f"Användaren {name} skapad med roller: {', '.join(roles) or '(inga)'}")
    if generate:
        click.echo(f"Lösenord: {password}")


@users.command(
    "mail-mode", help="Välj e-post för påminnelser: immediate (varje gång) eller digest (en gång per dag)."
)
@click.argument("name")
@click.argument("mode", type=click.Choice(["immediate", "digest"]))
def users_mail_mode(name: str, mode: str) -> None:
    from engine.reminders import set_mail_mode

    app = _app()
    if not _user_exists(app, name):
        _fail(f"{name}: användaren finns inte.")
    set_mail_mode(app, name, mode)
    click.echo(
        f"{name}: påminnelser skickas {'direkt' if mode == 'immediate' else 'som daglig sammanfattning'}."
    )


def _user_exists(app: Delaktig, name: str) -> bool:
    import sqlalchemy as sa

    from engine.models import User

    with app.session() as s:
        return s.execute(sa.select(User.id).where(User.name == name)).first() is not None


@main.group(help="Granskningsloggen.")
def audit() -> None:
    pass


@audit.command("verify", help="Kontrollera att ingen granskningsrad har ändrats eller tagits bort.")
@click.argument("case", required=False)
def audit_verify(case: str | None) -> None:
    broken = _app().verify_audit(case)
    for message in broken:
        click.echo(message, err=True)
    if broken:
        sys.exit(1)
    click.echo(
        "Granskningsloggen är obruten." if not case else f"Ärendet {case}: granskningsloggen är obruten."
    )


def deploy_all(app: Delaktig, directory: Path = PROCESSES_DIR) -> list[str]:
    lines = []
    for path in sorted(directory.glob("*/*.bpmn")):
        for info in app.deploy(path.read_bytes(), path.name, "delaktig", source="processes/"):
            lines.append(f"{path.relative_to(directory)}: {info.key} v{info.version}")
    return lines


DEMO_ROLES = [
    "stadsdelsdirektor",
    "avdelningschef",
    "enhetschef",
    "kommunikator",
    "namndsekreterare",
    "fortroendevald",
    "tjansteman",
    "kommunstyrelsen_sekreterare",
    "demokratistrateg",
    "tjansteperson",
    "handlaggare",
]


def create_demo_users(app: Delaktig, roles: list[str] | None = None) -> list[tuple[str, str, str]]:
    from engine.errors import Conflict

    created = []
    for role in roles or demo_roles():
        password = secrets.token_urlsafe(9)
        try:
            app.add_user(role, password, [role], email=f"{role}@demo.delaktig.local")
        except Conflict:
            continue
        created.append((role, password, role))
    return created


def demo_roles() -> list[str]:
    """Every candidate group used by the diagrams in processes/, plus the known roles."""
    import re

    found = set(DEMO_ROLES)
    for path in PROCESSES_DIR.glob("*/*.bpmn"):
        for groups in re.findall(rb'candidateGroups="([^"]+)"', path.read_bytes()):
            found |= {g.strip() for g in groups.decode().split(",") if g.strip() and "$" not in g}
    return sorted(found)


@main.command(help="Driftsätt alla rutiner i processes/ och skapa en demoanvändare per roll.")
def demo() -> None:
    app = _app()
    app.upgrade()
    for line in deploy_all(app):
        click.echo(line)
    _print_users(create_demo_users(app))


def _print_users(created: list[tuple[str, str, str]]) -> None:
    if not created:
        click.echo("Demoanvändarna finns redan.")
    for name, password, role in created:
        click.echo(f"  användare {name:<30} lösenord {password:<16} roll {role}")


@main.command(
    help="Kör Delaktig lokalt: SQLite, migreringar, rutinerna, webben på 127.0.0.1:8000 och arbetare."
)
@click.option("--demo", "with_demo", is_flag=True, help="Skapa också demoanvändare.")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--no-workers", is_flag=True, help="Starta bara webben.")
def up(with_demo: bool, host: str, port: int, no_workers: bool) -> None:
    settings = Settings.from_env()
    os.environ.setdefault("DATABASE_URL", settings.database_url)
    os.environ.setdefault("DELAKTIG_DATA_DIR", str(settings.data_dir))
    app = Delaktig(settings=settings)
    app.upgrade()
    for line in deploy_all(app):
        click.echo(line)
    if with_demo:
        _print_users(create_demo_users(app))
    app.dispose()
    children = [
        subprocess.Popen([sys.executable, "-m", "webhooks.serve", "--host", host, "--port", str(port)])
    ]
    if not no_workers:
        children.append(subprocess.Popen([sys.executable, "-m", "workers.embedded"]))
    click.echo(f"Delaktig körs på http://{host}:{port}/ — avsluta med Ctrl+C.")

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            child.wait(timeout=15)


if __name__ == "__main__":
    main()

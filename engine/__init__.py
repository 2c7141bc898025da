"""Delaktig's engine: everything that decides. Imports neither Flask nor Celery (see pyproject's contracts)."""

from engine import errors

__all__ = ["Delaktig", "errors"]


def __getattr__(name: str):
    # Lazy, so importing a small engine module (clock, errors) does not load SpiffWorkflow and SQLAlchemy.
    if name == "Delaktig":
        from engine.app import Delaktig

        return Delaktig
    raise AttributeError(name)

"""Errors the engine raises to its callers. Web and worker layers map them to HTTP codes / retries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the element id (diagram) or field id (form) and a message."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DelaktigError(Exception):
    """Base class; ``str(err)`` is a message fit to show a user."""


class NotFound(DelaktigError):
    pass


class Forbidden(DelaktigError):
    pass


class Conflict(DelaktigError):
    """The state moved under the caller: task no longer ready, stale version, claimed by someone else."""


class ConcurrentChange(Conflict):
    """A concurrent transaction got there first (a unique key taken, the database busy). Nothing was
    written; the caller may run the unit of work again, and then sees what the other one wrote."""


class StaleCase(Conflict):
    """The case changed between reading it and writing it (its version moved on). Nothing was written;
    the caller may run the whole unit of work again on fresh data."""


class ValidationFailed(DelaktigError):
    def __init__(self, problems: list[Problem], message: str | None = None):
        self.problems = list(problems)
        super().__init__(message or "; ".join(str(p) for p in self.problems))


class InvalidValue(ValidationFailed):
    """A value the database cannot store or compare: too long for its column, a NUL character, a number
    or date out of range. Refused as bad input; the transaction is rolled back. ``detail`` is the
    database's own words, for logs; the message says what kind of value it was."""

    def __init__(self, reason: str, detail: str = ""):
        self.detail, self.reason = detail, reason
        super().__init__([Problem("", f"Ett värde kan inte användas: {reason}.")])


class NoMatch(DelaktigError):
    """A message found no waiting case or start event."""


class AmbiguousMatch(DelaktigError):
    """A message matched several waiting cases."""


class ProcessError(DelaktigError):
    """The diagram failed at run time (a condition or script raised, a sandbox limit hit). The transaction
    is rolled back, so the case stays as it was; ``where`` names the element."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.problems = [Problem(where, message)]
        super().__init__(f"{where}: {message}")

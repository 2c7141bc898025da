"""All settings, read from the environment in one place; explicit values (tests) win."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    return Path(os.environ.get("DELAKTIG_DATA_DIR") or Path.home() / ".local" / "share" / "delaktig")


@dataclass
class Settings:
    database_url: str = ""
    redis_url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    base_url: str = "http://127.0.0.1:8000"
    mail_from: str = "Delaktig <noreply@delaktig.local>"
    script_time_limit: float = 2.0

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = os.environ
        data_dir = Path(overrides.pop("data_dir", None) or default_data_dir())
        url = (
            overrides.pop("database_url", None)
            or env.get("DATABASE_URL")
            or f"sqlite:///{data_dir / 'delaktig.db'}"
        )
        return cls(
            database_url=url,
            redis_url=overrides.pop("redis_url", None) or env.get("REDIS_URL"),
            data_dir=data_dir,
            base_url=overrides.pop("base_url", None) or env.get("DELAKTIG_BASE_URL", "http://127.0.0.1:8000"),
            mail_from=overrides.pop("mail_from", None) or env.get("DELAKTIG_MAIL_FROM", cls.mail_from),
            **overrides,
        )

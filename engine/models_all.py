"""Imports every module that defines tables, so ``Base.metadata`` is complete (Alembic, tests).

Areas keep their tables in their own module (``engine/<area>_models.py``); add one import line here.
"""

from engine import (
    initiative_models,  # noqa: F401
    reminder_models,  # noqa: F401
    signal_models,  # noqa: F401
)
from engine.models import Base  # noqa: F401

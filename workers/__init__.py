"""Celery workers: timers, reminders, outbox relay, schedules. Call only ``engine``.

``celery -A workers worker`` and ``celery -A workers beat`` find the app here.
"""

from workers.celery_app import app

celery = app
__all__ = ["app", "celery"]

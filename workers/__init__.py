"""Celery workers: timers, reminders, outbox relay, schedules. Call only ``engine``."""

# Delaktig: one image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 1000 delaktig
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY webhooks ./webhooks
COPY workers ./workers
COPY processes ./processes
# gunicorn and every other dependency come pinned from pyproject.toml (a second pin here could only disagree).
RUN pip install .
USER delaktig
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "webhooks.app:create_app()"]

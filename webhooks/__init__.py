"""The Flask layer: staff pages, REST API, public intake, webhooks. Calls only ``engine``.

Production: ``gunicorn 'webhooks:create_app()'``.
"""

from webhooks.app import create_app

__all__ = ["create_app"]

"""Serve the web app with waitress (a production WSGI server, pure Python, no fork): what
``delaktig up`` runs as ``python -m webhooks.serve --host H --port P``. Production on Linux may use
``gunicorn 'webhooks:create_app()'`` instead; both serve the same application factory."""

from __future__ import annotations

import argparse
import logging
import os

from waitress import serve

from webhooks.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Delaktig web app (waitress)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("DELAKTIG_WEB_THREADS", "8")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    # Waitress drops X-Forwarded-* headers unless told otherwise; with DELAKTIG_PROXY_FIX the app's
    # ProxyFix reads them (webhooks.app), so they must reach it.
    serve(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        ident="Delaktig",
        clear_untrusted_proxy_headers=not app.config.get("PROXY_FIX"),
    )


if __name__ == "__main__":
    main()

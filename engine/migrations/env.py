"""Alembic environment: migrations run against the URL given by ``engine.db.upgrade``."""

from alembic import context

from engine.db import make_engine
from engine.models_all import Base

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    connectable = make_engine(url)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


run()

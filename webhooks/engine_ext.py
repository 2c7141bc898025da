"""Access to the engine instance from views."""

from flask import current_app

from engine.app import Delaktig


def get_engine() -> Delaktig:
    return current_app.extensions["delaktig"]

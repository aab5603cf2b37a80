"""The HTTP API: ``create_app(ls, settings)`` returns the FastAPI app that ``leadstats serve`` runs."""

from .app import create_app

__all__ = ["create_app"]

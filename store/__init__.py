"""Persistence: durable SQL models with Alembic migrations, and ephemeral state."""

from store.db import Database

__all__ = ["Database"]

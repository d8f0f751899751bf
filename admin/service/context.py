"""What every service call needs besides the actor: the store, shared state and settings."""

from __future__ import annotations

from dataclasses import dataclass

from settings import Settings
from store.db import Database
from store.ephemeral import EphemeralState


@dataclass(frozen=True)
class ServiceContext:
    database: Database
    state: EphemeralState  # announces changes to every process's caches
    settings: Settings

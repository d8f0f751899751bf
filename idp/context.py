"""The services one process shares, created once by ``create_app`` and found per request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from certs.keys import KeyManager
from settings import Settings
from store.db import Database
from store.ephemeral import EphemeralState

EXTENSION = "sts"


@dataclass
class Services:
    settings: Settings
    database: Database
    state: EphemeralState
    keys: KeyManager


def current_services() -> Services:
    services: Services = current_app.extensions[EXTENSION]
    return services

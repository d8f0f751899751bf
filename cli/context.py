"""Shared state for CLI commands: settings and database, created on first use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from settings import Settings, SettingsError, load_settings
from store.db import Database

F = TypeVar("F", bound=Callable[..., Any])


class CliContext:
    """Lazily built settings and database, so ``--help`` works without configuration."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._database: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings()
            except SettingsError as exc:
                raise click.ClickException(f"invalid configuration: {exc}") from exc
        return self._settings

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = Database(
                self.settings.effective_database_url, **self.settings.database_options()
            )
        return self._database


def pass_context(function: F) -> F:
    """Give a command a :class:`CliContext` as its first argument."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        context = click.get_current_context()
        state = context.find_object(CliContext)
        if state is None:
            state = context.ensure_object(CliContext)
        return function(state, *args, **kwargs)

    return wrapper  # type: ignore[return-value]

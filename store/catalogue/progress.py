"""Progress of long catalogue operations: quiet by default, bars on a terminal (the CLI).

The importer and exporter report how far they are through the big sections (users and
assignments) by wrapping them in :class:`Tracked`; a :class:`Progress` that draws
nothing is the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

STEP = 2_000


class Progress:
    """Receives progress; this one ignores it. ``phase`` names the current pass."""

    phase = ""

    def start(self, label: str, total: int) -> None:
        """A pass over ``total`` items named ``label`` begins."""

    def advance(self, count: int) -> None:
        """``count`` more items are done."""

    def finish(self) -> None:
        """The pass is over."""


QUIET = Progress()


class Tracked:
    """A sized, re-iterable section that reports every pass over it to ``progress``."""

    def __init__(self, items: Any, section: str, progress: Progress) -> None:
        self.items = items
        self.section = section
        self.progress = progress

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return len(self.items) > 0

    def __iter__(self) -> Iterator[Any]:
        label = f"{self.progress.phase} {self.section}".strip()
        self.progress.start(label, len(self.items))
        done = 0
        try:
            for item in self.items:
                yield item
                done += 1
                if done % STEP == 0:
                    self.progress.advance(STEP)
            self.progress.advance(done % STEP)
        finally:
            self.progress.finish()


def tracked(items: Iterable[Any], section: str, progress: Progress) -> Iterable[Any]:
    """``items`` reporting to ``progress`` (unchanged when progress is quiet)."""
    if progress is QUIET:
        return items
    return Tracked(items, section, progress)

"""The outcome of a catalogue import: counts of created, updated and deleted objects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ImportReport:
    """How many objects of each kind an import created, updated and deleted."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        """Whether the import changed anything at all."""
        return bool(self.total("created") or self.total("updated") or self.total("deleted"))

    def total(self, what: str) -> int:
        """Sum over kinds of ``created``, ``updated`` or ``deleted``."""
        counter: Counter[str] = getattr(self, what)
        return sum(counter.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Plain dicts, for the audit event and JSON output."""
        return {
            what: dict(sorted(getattr(self, what).items()))
            for what in ("created", "updated", "deleted")
        }

    def summary(self) -> str:
        """One line per verb, e.g. ``created: 3 (org_unit 2, user 1)``."""
        lines = []
        for what in ("created", "updated", "deleted"):
            counter: Counter[str] = getattr(self, what)
            detail = ", ".join(
                f"{kind} {count}" for kind, count in sorted(counter.items()) if count
            )
            lines.append(f"{what}: {self.total(what)}" + (f" ({detail})" if detail else ""))
        return "\n".join(lines)

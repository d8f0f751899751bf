"""axe-core in the browser tests: WCAG 2.1 A/AA rules, no serious or critical violation.

axe-core is vendored at install time (``make install`` runs ``npm ci`` in tests/e2e/axe/,
version pinned in its package-lock.json); nothing is downloaded when the tests run. It is
evaluated through the DevTools protocol, so the pages keep their CSP (no inline scripts).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import service_missing

AXE = Path(__file__).with_name("axe") / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


@cache
def _source() -> str:
    if not AXE.exists():
        service_missing("axe-core", f"{AXE} not found (run `make install`, which runs npm ci)")
    return AXE.read_text(encoding="utf-8")


def serious_violations(page: Any) -> list[str]:
    """Serious and critical violations on the page, one line each (rule, impact, where)."""
    page.evaluate(_source())
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v.get("impact") in BLOCKING
    ]

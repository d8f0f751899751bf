"""The admin API benchmark at a tiny scale, so its generator, server set-up and queries
cannot rot: a real ``stsctl serve`` on PostgreSQL and Redis, a few requests per query."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import admin_api
from tests.conftest import redis_url


def test_admin_benchmark_smoke(postgres_admin_url: str, tmp_path: Path) -> None:
    from store.ephemeral import RedisState
    from tests.conftest import service_missing

    try:
        RedisState(redis_url()).ping()
    except Exception as exc:
        service_missing("Redis", str(exc))
    url = make_url(postgres_admin_url).set(database=f"sts_bench_admin_{uuid.uuid4().hex[:8]}")
    out = tmp_path / "result.json"
    admin_api.main(
        [
            "--scale", "0.001",
            "--audit-events", "1500",
            "--samples", "12",
            "--warmup", "2",
            "--naive-budget", "2",
            "--verify-chain",
            "--no-lock",
            "--database-url", url.render_as_string(hide_password=False),
            "--redis-url", redis_url(),
            "--json", str(out),
            "--drop",
        ]
    )  # fmt: skip
    written = json.loads(out.read_text())
    assert written["audit_events_total"] >= 1500
    assert written["audit_chain_spot_check"]["first_broken"] is None
    assert written["audit_chain_full"]["exit_code"] == 0, written["audit_chain_full"]
    assert written["requested_total"] > 0
    for key, _, _ in admin_api.ROWS:
        ours = written["ours"][key]
        if key.endswith("_deeper") and not ours.get("n"):
            continue  # too few events for a second page at this scale
        assert ours["n"] > 0 and "errors" not in ours, (key, ours)
    for key in ("users", "assignments", "agreements", "audit_actor_first", "audit_object_first"):
        assert written["naive"][key]["n"] > 0, key
    # the same audit pages, the same number of events: both sides answer the same question
    assert (
        written["ours"]["audit_actor_first"]["mean_items"]
        == written["naive"]["audit_actor_first"]["mean_items"]
    )

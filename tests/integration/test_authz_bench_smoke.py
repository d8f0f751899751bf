"""The national benchmark at a tiny scale, so its generator and measurements cannot rot."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import authz_national
from tests.conftest import redis_url


def test_benchmark_smoke(postgres_admin_url: str, tmp_path: Path) -> None:
    from store.ephemeral import RedisState
    from tests.conftest import service_missing

    try:
        RedisState(redis_url()).ping()
    except Exception as exc:
        service_missing("Redis", str(exc))
    url = make_url(postgres_admin_url).set(database=f"sts_bench_smoke_{uuid.uuid4().hex[:8]}")
    out = tmp_path / "result.json"
    results = authz_national.main(
        [
            "--scale",
            "0.0005",
            "--samples",
            "30",
            "--propagation-rounds",
            "2",
            "--baseline-budget",
            "1",
            "--database-url",
            url.render_as_string(hide_password=False),
            "--redis-url",
            redis_url(),
            "--json",
            str(out),
            "--drop",
        ]
    )
    assert results is not None
    written = json.loads(out.read_text())
    ours = written["ours"]
    assert written["generation"]["counts"]["assignments"] == 1000
    assert ours["startup_seconds"] > 0 and ours["memory"]["rss_mib"] > 0
    assert ours["random"]["cold"]["n"] > 0 and ours["random"]["warm"]["p99_ms"] >= 0
    assert ours["holder"]["non_empty"] > 0  # holders really hold something
    assert ours["propagation"]["missed"] == 0 and ours["propagation"]["n"] == 2
    assert written["baseline"]["resolution"]["n"] >= 1
    assert "extrapolated" in written["baseline"]["note"]

"""The benchmark report: every figure in the table comes from a results file, charts render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from bench import report, soak

PNG = b"\x89PNG\r\n\x1a\n"


def write(directory: Path, name: str, data: dict) -> None:
    (directory / f"{name}.json").write_text(json.dumps(data))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    directory = tmp_path / "results"
    directory.mkdir()
    write(directory, "saml_http", {
        "when": "2026-12-05T10:00:00+00:00",
        "ours_in_process_xmlsec": {"round_trips_per_s": 612.5, "p99_ms": 41.0},
        "pysaml2_default_xmlsec1_subprocess": {"round_trips_per_s": 30.7, "p99_ms": 300.0},
    })  # fmt: skip
    write(directory, "oidc_http", {
        "client_credentials": {
            "ours": {"per_second": 834.0, "p99_ms": 55.6},
            "oidc-provider": {"per_second": 3714.1, "p99_ms": 20.5},
        },
        "code_flow_existing_session": {"p50_ms": 10.2, "p99_ms": 13.0},
    })  # fmt: skip
    write(directory, "soak", {
        "when": "2026-12-05T11:00:00+00:00",
        "rate_ops_per_s": 118.6, "config": {"load": "0.7"}, "errors_total": 0,
        "minutes": [{"minute": 1, "p50_ms": 9.1, "p99_ms": 48.2},
                    {"minute": 2, "p50_ms": 9.0, "p99_ms": 44.0}],
        "memory": [{"minute": 1, "rss_mib": {"11": 150.0}},
                   {"minute": 2, "rss_mib": {"11": 151.0}}],
        "memory_growth_pct": {"11": 0.7},
    })  # fmt: skip
    return directory


def test_the_table_carries_the_measured_figures_and_the_verdicts(results: Path) -> None:
    loaded = report.load(results)
    rows = [row for extract in report.EXTRACTORS for row in extract(loaded)]
    by_measure = {row.measure: row for row in rows}
    saml = by_measure["SAML SSO round trips/s (live session)"]
    assert (saml.ours, saml.peer, saml.met) == (612.5, 30.7, True)
    tokens = by_measure["client_credentials tokens/s"]
    assert tokens.met is False  # 834 < 0.6 × 3,714
    assert by_measure["code-flow round trip p50 (existing session)"].met is False
    text = report.markdown(loaded, rows)
    assert "| saml_http | SAML SSO round trips/s (live session) | 612.5 /s | 30.7 /s" in text
    assert "| 834 /s | 3,714 /s (oidc-provider (Node.js)) |" in text
    assert "Not run (no results file): saml, authz_national, admin_api, ad, ad_enumeration," in text
    assert "soak: errors in 2 min at 118.6 ops/s | 0" in text


def test_charts_are_png_files(results: Path, tmp_path: Path) -> None:
    loaded = report.load(results)
    rows = [row for extract in report.EXTRACTORS for row in extract(loaded)]
    written = report.charts(loaded, rows, tmp_path / "charts")
    names = sorted(path.name for path in written)
    assert names == ["soak.png", "throughput.png"]
    for path in written:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5_000


def test_main_writes_the_report_file(results: Path, tmp_path: Path) -> None:
    report.main(["--results", str(results), "--charts", str(tmp_path / "charts")])
    assert "612.5" in (results / "report.md").read_text()


def test_admin_rows_match_the_admin_benchmark() -> None:
    admin_api = pytest.importorskip("bench.admin_api")
    keys = {key: kind for key, _, kind in admin_api.ROWS}
    for key, _, kind in report.ADMIN_ROWS:
        assert keys[key] == kind
    assert report.ADMIN_TARGET_MS == admin_api.TARGET_MS


def test_soak_minutes_split_samples_by_when_they_were_due() -> None:
    start = 1000.0
    samples = [
        (1000.5, "saml_sso", 10.0, True),
        (1030.0, "client_credentials", 20.0, False),
        (1061.0, "saml_sso", 30.0, True),
    ]
    rows = soak.per_minute(samples, start, 2)
    assert [row["ops"] for row in rows] == [2, 1]
    assert [row["errors"] for row in rows] == [1, 0]
    assert rows[0]["by_kind"]["client_credentials"]["ops"] == 1
    assert soak.percentile([1.0, 2.0, 3.0, 100.0], 0.99) == 100.0


def test_soak_catalogue_adds_the_admin_client_to_the_anvendersystem() -> None:
    text = soak.catalogue_text()
    assert text.count("client_id:") == 3 and soak.ADMIN_CLIENT in text


def test_soak_counts_the_cpu_of_other_work_but_not_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency spikes in a soak minute must be attributable: other work's CPU is counted."""
    monkeypatch.setattr(soak.os, "getpid", lambda: 10)
    monkeypatch.setattr(soak.os, "sysconf", lambda _name: 100)
    before = {
        10: (1, 0, "python -m bench.soak"),
        11: (10, 0, "stsctl serve"),
        20: (1, 0, "postgres: 15/main: root sts_bench_soak 127.0.0.1(5) idle"),
        21: (1, 0, "postgres: 15/main: root other_db 127.0.0.1(6) idle"),
        30: (1, 0, "/usr/bin/redis-server 127.0.0.1:6379"),
        40: (1, 100, "pytest tests"),
    }
    after = {
        10: (1, 500, "python -m bench.soak"),
        11: (10, 900, "stsctl serve"),
        12: (11, 700, "stsctl serve worker"),  # started during the minute
        20: (1, 300, "postgres: 15/main: root sts_bench_soak 127.0.0.1(5) idle"),
        21: (1, 250, "postgres: 15/main: root other_db 127.0.0.1(6) idle"),
        30: (1, 50, "/usr/bin/redis-server 127.0.0.1:6379"),
        40: (1, 1100, "pytest tests"),
        41: (1, 200, "py-spy record"),  # new process: all its CPU counts
    }
    assert soak.others_cpu_s(before, after, "sts_bench_soak") == 14.5  # (250 + 1000 + 200) / 100


def test_the_table_goes_into_the_readme_block_and_nowhere_else(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{report.START}\nold table\n{report.END}\n\nafter\n", encoding="utf-8"
    )
    report.into_readme(readme, "| new |\n")
    assert readme.read_text(encoding="utf-8") == (
        f"intro\n{report.START}\n| new |\n{report.END}\n\nafter\n"
    )
    report.into_readme(readme, "| newer |\n")  # again: replaced, not appended
    assert "| new |" not in readme.read_text(encoding="utf-8")
    (tmp_path / "other.md").write_text("no block\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no <!-- bench-report:start -->"):
        report.into_readme(tmp_path / "other.md", "| t |\n")

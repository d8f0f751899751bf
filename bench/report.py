"""One report from every benchmark's JSON: a Markdown table and PNG charts.

    .venv/bin/python -m bench.report [--results bench/results] [--charts docs/bench]

``make bench`` runs every benchmark (each writes ``bench/results/<name>.json`` with its
peer's figures from the same run) and then this. It reads whichever results exist, writes
``bench/results/report.md`` (one row per headline measure: ours, the peer or baseline,
the target and whether it is met) and the charts the README shows (``docs/bench/*.png``):
throughput against the peers, latency against the naive queries, start-up and memory
against plain Casbin, the catalogue against its targets, and the soak minute by minute.
A benchmark whose JSON is missing is listed as not run; nothing is made up.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHARTS = ROOT / "docs" / "bench"

# The admin API benchmark's query rows and targets (kept here so the report needs no
# database driver; tests/unit/test_bench_report.py checks they match bench.admin_api).
ADMIN_ROWS = (
    ("users", "admin API: user search", "read"),
    ("assignments", "admin API: one user's assignments", "read"),
    ("privileges", "admin API: privileges, explained", "read"),
    ("agreements", "admin API: pending serviceaftaler", "read"),
    ("audit_actor_first", "admin API: audit by actor, first page", "audit"),
    ("audit_object_first", "admin API: audit by object, first page", "audit"),
)
ADMIN_TARGET_MS = {"read": 50.0, "audit": 200.0}


@dataclass(frozen=True)
class Row:
    benchmark: str
    measure: str
    ours: float | None
    peer: float | None
    peer_name: str
    unit: str
    target: str
    met: bool | None


def _get(data: dict[str, Any] | None, *path: str) -> Any:
    found: Any = data
    for key in path:
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return found


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def hot_path_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    saml = results.get("saml_http")
    if saml:
        ours = _num(_get(saml, "ours_in_process_xmlsec", "round_trips_per_s"))
        p99 = _num(_get(saml, "ours_in_process_xmlsec", "p99_ms"))
        rows.append(Row(
            "saml_http", "SAML SSO round trips/s (live session)", ours,
            _num(_get(saml, "pysaml2_default_xmlsec1_subprocess", "round_trips_per_s")),
            "pysaml2 default signing", "/s", "≥ 600 at p99 ≤ 50 ms",
            None if ours is None or p99 is None else ours >= 600 and p99 <= 50,
        ))  # fmt: skip
    oidc = results.get("oidc_http")
    if oidc:
        ours_cc = _get(oidc, "client_credentials", "ours") or {}
        peer_cc = _get(oidc, "client_credentials", "oidc-provider") or {}
        ours = _num(ours_cc.get("per_second"))
        peer = _num(peer_cc.get("per_second"))
        met = None
        if ours is not None and peer and _num(ours_cc.get("p99_ms")) is not None:
            met = ours >= 0.6 * peer and ours_cc["p99_ms"] <= 2 * peer_cc.get("p99_ms", 0)
        rows.append(Row(
            "oidc_http", "client_credentials tokens/s", ours, peer, "oidc-provider (Node.js)",
            "/s", "≥ 0.6 × peer, p99 ≤ 2 × peer's", met,
        ))  # fmt: skip
        p50 = _num(_get(oidc, "code_flow_existing_session", "p50_ms"))
        rows.append(Row(
            "oidc_http", "code-flow round trip p50 (existing session)", p50, None, "", "ms",
            "≤ 5 ms", _at_most(p50, 5),
        ))  # fmt: skip
    sign = results.get("saml")
    if sign:
        rows.append(Row(
            "saml_sign", "signed SAML responses/s (two signatures, in-process)",
            _num(_get(sign, "ours_in_process_xmlsec", "complete_response", "per_second")),
            _num(_get(sign, "pysaml2_default_xmlsec1_subprocess", "complete_response",
                      "per_second")),
            "pysaml2 default (xmlsec1 process)", "/s", "", None,
        ))  # fmt: skip
    return rows


def authz_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("authz_national")
    if not data:
        return []
    startup = _num(_get(data, "ours", "startup_seconds"))
    rss = _num(_get(data, "ours", "memory", "rss_mib"))
    cold = _num(_get(data, "ours", "random", "cold", "p99_ms"))
    return [
        Row("authz_national", "privileges: start-up to first answer", startup,
            _num(_get(data, "baseline", "extrapolated_full_first_answer_seconds")),
            "plain casbin.Enforcer (extrapolated)", "s", "≤ 10 s", _at_most(startup, 10)),
        Row("authz_national", "privileges: resident memory per process", rss,
            _num(_get(data, "baseline", "extrapolated_full_rss_mib")),
            "plain casbin.Enforcer (extrapolated)", "MiB", "≤ 1024 MiB", _at_most(rss, 1024)),
        Row("authz_national", "privileges: cold resolution p99", cold,
            _num(_get(data, "baseline", "resolution", "p99_ms")), "plain casbin.Enforcer",
            "ms", "≤ 20 ms", _at_most(cold, 20)),
    ]  # fmt: skip


def admin_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("admin_api")
    if not data:
        return []
    rows = []
    for key, label, kind in ADMIN_ROWS:
        ours = _num(_get(data, "ours", key, "p99_ms"))
        target = ADMIN_TARGET_MS[kind]
        rows.append(Row(
            "admin_api", f"{label} p99", ours, _num(_get(data, "naive", key, "p99_ms")),
            "naive SQL", "ms", f"≤ {target:g} ms", _at_most(ours, target),
        ))  # fmt: skip
    return rows


def ad_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("ad")
    if not data:
        return []
    overhead = _num(data.get("lookup_overhead_ms_p50"))
    full = _num(_get(data, "full_sync", "seconds"))
    incremental = _num(_get(data, "incremental_sync_after_100_changes", "seconds"))
    return [
        Row("ad_login_sync", "AD login: lookup on top of the DC's bind, p50", overhead, None, "",
            "ms", "≤ 10 ms", _at_most(overhead, 10)),
        Row("ad_login_sync", "AD full sync", full, None, "", "s", "≤ 60 s", _at_most(full, 60)),
        Row("ad_login_sync", "AD incremental sync, 100 changes", incremental, None, "", "s",
            "≤ 2 s", _at_most(incremental, 2)),
    ]  # fmt: skip


def ad_enumeration_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("ad_enumeration")
    if not data:
        return []
    added = _num(_get(data, "ad_at_login_ms", "added_p50_stored_user"))
    unknown = _num(_get(data, "enumeration_login_page_ms", "unknown", "p50"))
    wrong = _num(_get(data, "enumeration_login_page_ms", "wrong", "p50"))
    ratio = None if unknown is None or not wrong else round(unknown / wrong, 3)
    return [
        Row("ad_login_enumeration", "AD at login: added to the DC's bind, p50", added, None, "",
            "ms", "≤ 10 ms", _at_most(added, 10)),
        Row("ad_login_enumeration", "refused login p50, unknown name / wrong password", ratio,
            None, "", "×", "within 10 %",
            None if ratio is None else 0.9 <= ratio <= 1.1),
    ]  # fmt: skip


def sts_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("sts_soap")
    if not data:
        return []
    rate = _num(_get(data, "issue", "per_second"))
    p99 = _num(_get(data, "issue", "p99_ms"))
    return [
        Row("sts_soap", "KOMBIT STS SOAP Issue round trips/s", rate, None, "", "/s",
            "≥ 250 at p99 ≤ 50 ms",
            None if rate is None or p99 is None else rate >= 250 and p99 <= 50),
        Row("sts_soap", "KOMBIT STS SOAP Issue p99", p99, None, "", "ms", "≤ 50 ms",
            _at_most(p99, 50)),
    ]  # fmt: skip


CATALOGUE_TARGETS = {"import": 120.0, "reimport": 60.0, "changed": 60.0, "export": 60.0}


def catalogue_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("catalogue_national")
    if not data:
        return []
    rows = []
    for step, limit in CATALOGUE_TARGETS.items():
        ours = _num(_get(data, "ours_full_pg", step, "seconds"))
        rows.append(Row(
            "catalogue_national", f"catalogue {step}, national scale (PostgreSQL)", ours, None,
            "", "s", f"≤ {limit:g} s", _at_most(ours, limit),
        ))  # fmt: skip
    ours_small = _num(_get(data, "ours_small_pg", "import", "seconds"))
    legacy_small = _num(_get(data, "legacy_small_pg", "import", "seconds"))
    rows.append(Row(
        "catalogue_national", "catalogue import, 2 % world", ours_small, legacy_small,
        "previous row-by-row importer", "s", "", None,
    ))  # fmt: skip
    peak = [_num(_get(data, "ours_full_pg", step, "peak_rss_mib")) for step in CATALOGUE_TARGETS]
    known = [value for value in peak if value is not None]
    if known:
        rows.append(Row(
            "catalogue_national", "catalogue peak resident memory", max(known), None, "", "MiB",
            "≤ 1024 MiB", _at_most(max(known), 1024),
        ))  # fmt: skip
    return rows


def soak_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    data = results.get("soak")
    if not data:
        return []
    minutes = data.get("minutes") or []
    p99s = [m["p99_ms"] for m in minutes if _num(m.get("p99_ms")) is not None]
    growth = [g for g in (data.get("memory_growth_pct") or {}).values() if g is not None]
    errors = _num(data.get("errors_total"))
    return [
        Row("soak", f"soak: errors in {len(minutes)} min at {data.get('rate_ops_per_s')} ops/s",
            errors, None, "", "", "0", None if errors is None else errors == 0),
        Row("soak", "soak: worst minute's p99", max(p99s) if p99s else None, None, "", "ms", "",
            None),
        Row("soak", "soak: worker memory growth after warm-up", max(growth) if growth else None,
            None, "", "%", "≤ 10 %", _at_most(max(growth), 10) if growth else None),
    ]  # fmt: skip


EXTRACTORS: tuple[Callable[[dict[str, dict[str, Any]]], list[Row]], ...] = (
    hot_path_rows, authz_rows, admin_rows, ad_rows, ad_enumeration_rows, sts_rows,
    catalogue_rows, soak_rows,
)  # fmt: skip
KNOWN = ("saml_http", "oidc_http", "saml", "authz_national", "admin_api", "ad",
         "ad_enumeration", "sts_soap", "catalogue_national", "soak")  # fmt: skip


def load(directory: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in KNOWN:
        path = directory / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:g}" if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def markdown(results: dict[str, dict[str, Any]], rows: list[Row]) -> str:
    lines = [
        "| benchmark | measure | ours | peer / baseline | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        peer = f"{_fmt(row.peer)} {row.unit} ({row.peer_name})" if row.peer is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[row.met]
        lines.append(
            f"| {row.benchmark} | {row.measure} | {_fmt(row.ours)} {row.unit} | {peer} | "
            f"{row.target or '–'} | {met} |"
        )
    missing = [name for name in KNOWN if name not in results]
    if missing:
        lines += ["", "Not run (no results file): " + ", ".join(missing) + "."]
    when = sorted({str(data.get("when")) for data in results.values() if data.get("when")})
    if when:
        lines += ["", f"Results recorded {when[0]} … {when[-1]}."]
    return "\n".join(lines) + "\n"


def charts(results: dict[str, dict[str, Any]], rows: list[Row], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def bars(name: str, title: str, chosen: list[Row], xlabel: str, log: bool) -> None:
        """Horizontal pairs of bars, one measure per line, its name readable on the left."""
        if not chosen:
            return
        figure, axes = plt.subplots(figsize=(10, 1.2 + 0.75 * len(chosen)))
        positions = list(range(len(chosen)))[::-1]  # the first row on top
        height = 0.38
        axes.barh([p + height / 2 for p in positions], [r.ours or 0 for r in chosen], height,
                  label="ours", color="#1f6f8b")  # fmt: skip
        axes.barh([p - height / 2 for p in positions], [r.peer or 0 for r in chosen], height,
                  label="peer / baseline", color="#c0c0c0")  # fmt: skip
        for p, row in zip(positions, chosen, strict=True):
            axes.annotate(f" {_fmt(row.ours)} {row.unit}", (row.ours or 0, p + height / 2),
                          ha="left", va="center", fontsize=8)  # fmt: skip
            if row.peer is not None:
                axes.annotate(f" {_fmt(row.peer)} {row.unit}", (row.peer, p - height / 2),
                              ha="left", va="center", fontsize=8)  # fmt: skip
        axes.set_yticks(positions)
        axes.set_yticklabels([f"{r.measure}\nvs {r.peer_name}" for r in chosen], fontsize=8)
        axes.set_xlabel(xlabel)
        if log:
            axes.set_xscale("log")
        axes.margins(x=0.15)
        axes.set_title(title)
        axes.legend(loc="upper right", fontsize=8)
        figure.tight_layout()
        path = out / f"{name}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

    with_peer = [row for row in rows if row.peer is not None and row.ours is not None]
    bars("throughput", "Throughput, ours vs peer (higher is better)",
         [r for r in with_peer if r.unit == "/s"], "per second", log=True)  # fmt: skip
    lower = [r for r in with_peer if r.unit in ("ms", "s", "MiB")]
    bars("latency", "Latency and start-up, ours vs baseline (lower is better)",
         lower, "ms / s / MiB", log=True)  # fmt: skip

    soak = results.get("soak")
    if soak and soak.get("minutes"):
        minutes = soak["minutes"]
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        xs = [m["minute"] for m in minutes]
        top.plot(xs, [m["p99_ms"] for m in minutes], marker="o", label="p99")
        top.plot(xs, [m["p50_ms"] for m in minutes], marker="o", label="p50")
        top.set_ylabel("latency (ms)")
        top.set_title(
            f"Soak: {soak.get('rate_ops_per_s')} ops/s mixed "
            f"({soak.get('config', {}).get('load', '?')} of capacity), "
            f"{soak.get('errors_total')} errors"
        )
        others = [(m["minute"], m["others_cpu_s"]) for m in minutes
                  if m.get("others_cpu_s") is not None]  # fmt: skip
        if others:  # other work on the machine takes CPU from the server: show when
            twin = top.twinx()
            twin.bar([o[0] for o in others], [o[1] for o in others], width=0.5, alpha=0.25,
                     color="grey", label="CPU-s of other work that minute")  # fmt: skip
            twin.set_ylabel("other work (CPU-s per minute)")
            twin.set_ylim(0, 120)  # two cores: 120 CPU-s a minute
            twin.legend(loc="upper right", fontsize=8)
        top.legend(loc="upper left")
        by_pid: dict[str, list[tuple[int, float]]] = {}
        for mark in soak.get("memory") or []:
            for pid, rss in mark["rss_mib"].items():
                if rss is not None:
                    by_pid.setdefault(pid, []).append((mark["minute"], rss))
        for pid, points in by_pid.items():
            bottom.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                        label=f"worker {pid}")  # fmt: skip
        bottom.set_ylabel("resident memory (MiB)")
        bottom.set_xlabel("minute")
        bottom.set_ylim(bottom=0)
        bottom.legend()
        figure.tight_layout()
        path = out / "soak.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

    catalogue = [r for r in rows if r.benchmark == "catalogue_national" and r.unit == "s"
                 and r.target]  # fmt: skip
    if catalogue:
        figure, axes = plt.subplots(figsize=(8, 4))
        labels = [r.measure.replace("catalogue ", "").split(",")[0] for r in catalogue]
        colours = ["#1f6f8b" if r.met else "#b5473a" for r in catalogue]
        axes.bar(labels, [r.ours or 0 for r in catalogue], color=colours)
        for index, limit in enumerate(CATALOGUE_TARGETS[label] for label in labels):
            axes.hlines(limit, index - 0.4, index + 0.4, colors="black", linestyles="dashed")
        axes.set_ylabel("seconds (dashed: target)")
        axes.set_title("Catalogue at national scale, PostgreSQL")
        figure.tight_layout()
        path = out / "catalogue.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


START, END = "<!-- bench-report:start -->", "<!-- bench-report:end -->"


def into_readme(readme: Path, table: str) -> None:
    """Put the table between the README's two markers (nothing else in it changes)."""
    text = readme.read_text(encoding="utf-8")
    head, start, rest = text.partition(START)
    _old, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{readme}: no {START} … {END} block to fill")
    readme.write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--charts", type=Path, default=CHARTS)
    parser.add_argument(
        "--readme", type=Path, help="also put the table into this file's bench-report block"
    )
    args = parser.parse_args(argv)
    results = load(args.results)
    rows = [row for extract in EXTRACTORS for row in extract(results)]
    text = markdown(results, rows)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "report.md").write_text(text, encoding="utf-8")
    written = charts(results, rows, args.charts)
    if args.readme:
        into_readme(args.readme, text)
    print(text)
    for path in written:
        print(f"chart: {path}")


if __name__ == "__main__":
    main()

"""The Grafana dashboard asks only for what a real server exposes, and the server counts
what an operator needs: tokens, assertions and logins by outcome, dependencies, caches,
the audit writer.

One `stsctl serve --workers 2` on PostgreSQL and a private Redis answers a few requests of
each kind (client_credentials issued and refused, a SAML login with a wrong and then the
right password, SSO reuse, an unknown SP); then /metrics (every worker summed) is scraped
and every query of ``deploy/grafana/sts-overview.json`` is read: each metric it names must
be exposed, each label it filters or groups by must exist, each exact label value must
occur, and every metric the server exposes must be on the dashboard.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.conftest import Browser, Server, saml_response, serve
from tests.ops.promql import selectors

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "sts-overview.json"

# Exposed but legitimately zero in a healthy run without Active Directory: errors, LDAP,
# and the audit queue (empty whenever nobody waits, as at scrape time).
MAY_BE_ZERO = {
    "sts_db_errors_total",
    "sts_redis_errors_total",
    "sts_ldap_errors_total",
    "sts_ldap_operation_seconds_bucket",
    "sts_ldap_operation_seconds_count",
    "sts_ldap_operation_seconds_sum",
    "sts_audit_queue_requests",
    "sts_privilege_cache_invalidations_total",
    # This world registers no system certificate, so the KOMBIT STS endpoints only refuse
    # here (issuing is counted in tests/sts/test_sts_metrics.py); the issued series are
    # exposed at 0 from the start.
    "sts_kombit_tokens_issued_total",
}
STS_OAUTH = "/runtime/api/rest/oauth/v1/issue"

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(server: Server) -> Samples:
    answer = server.get("/metrics")
    assert answer.status_code == 200
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(key) == wanted for key, wanted in labels.items())
    )


def dashboard_queries() -> list[tuple[str, str]]:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                queries.append((panel["title"], target["expr"]))
            walk(panel.get("panels", []))

    walk(document["panels"])
    return queries


def drive(server: Server) -> None:
    """A few requests of each kind the dashboard shows."""
    for _ in range(3):
        assert server.client_credentials().status_code == 200
    refused = server.client_credentials("anon-system")  # its agreement is revoked
    assert refused.status_code == 400, refused.text
    assert server.post("/oidc/token", data={"grant_type": "client_credentials"},
                       auth=("sapa-system", "wrong")).status_code == 401  # fmt: skip

    # KOMBIT STS OAuth endpoint without a TLS client certificate: refused, and counted.
    sts = server.post(STS_OAUTH, data={"grant_type": "client_credentials", "client_id": "x"})
    assert sts.status_code == 401, sts.text

    browser = Browser(server)
    wrong = browser.login(browser.sso(), password="not the password")
    assert wrong.status_code in (200, 401), wrong.text[:300]
    continued = browser.login(browser.sso())
    assert continued.status_code == 200, continued.text[:500]
    assert saml_response(browser.finish(continued))
    assert saml_response(browser.sso())  # answered from the SSO session
    assert browser.sso("https://unknown.sp.test/sp").status_code in (400, 403)


@pytest.fixture(scope="module")
def scraped(module_world_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Samples:
    return _drive_and_scrape(module_world_env, tmp_path_factory.mktemp("serve") / "serve.log")


def _drive_and_scrape(env: dict[str, str], log: Path) -> Samples:
    with serve(env, "--workers", "2", log=log) as server:
        drive(server)
        # The privilege cache's figures are copied by each worker's sampler (every 2 s).
        samples = scrape(server)
        for _ in range(50):
            if total(samples, "sts_cache_lookups_total", cache="privileges") > 0:
                break
            server.get("/healthz")  # starts the sampler of a worker that saw no request yet
            time.sleep(0.2)
            samples = scrape(server)
        return samples


def test_the_server_counts_tokens_assertions_logins_and_dependencies(scraped: Samples) -> None:
    assert total(scraped, "sts_oidc_tokens_issued_total", grant_type="client_credentials") == 3
    assert total(scraped, "sts_oidc_tokens_refused_total", reason="invalid_client") == 1
    assert (
        total(scraped, "sts_oidc_tokens_refused_total", reason="unauthorized_client")
        + total(scraped, "sts_oidc_tokens_refused_total", reason="no_service_agreement")
        + total(scraped, "sts_oidc_tokens_refused_total", reason="service_agreement_not_approved")
        == 1
    )
    assert total(scraped, "sts_kombit_tokens_refused_total", protocol="oauth") == 1
    assert {labels["protocol"] for labels, _ in scraped["sts_kombit_tokens_issued_total"]} == {
        "soap",
        "rest",
        "oauth",
    }
    assert total(scraped, "sts_saml_assertions_issued_total", loa="Low") == 2
    assert total(scraped, "sts_saml_requests_refused_total", reason="invalid") == 1
    assert total(scraped, "sts_logins_total", step="password", outcome="failure") == 1
    assert total(scraped, "sts_logins_total", step="password", outcome="success", loa="Low") == 1
    assert total(scraped, "sts_logins_total", step="sso", outcome="success", loa="Low") == 1
    assert total(scraped, "sts_db_query_seconds_count") > 0
    assert total(scraped, "sts_redis_command_seconds_count") > 0
    # Three OIDC tokens for one client: at least one lookup of each answered from cache.
    assert total(scraped, "sts_cache_lookups_total", cache="oidc_client_registry", result="hit") > 0
    assert total(scraped, "sts_cache_lookups_total", cache="agreements", result="hit") > 0
    assert total(scraped, "sts_cache_lookups_total", cache="saml_sp_registry", result="hit") > 0
    assert total(scraped, "sts_cache_lookups_total", cache="privileges") > 0
    # Every token, assertion and refusal waited for its audit events on PostgreSQL.
    assert total(scraped, "sts_audit_commit_seconds_count") >= 3 + 2 + 2
    assert "sts_audit_queue_requests" in scraped


def test_every_dashboard_query_reads_metrics_the_server_exposes(scraped: Samples) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    referenced: set[str] = set()
    for title, expression in queries:
        parsed = selectors(expression)
        assert parsed.selectors, f"{title}: no metric in {expression!r}"
        labels_here: set[str] = set()
        for selector in parsed.selectors:
            name = selector.metric
            referenced.add(name)
            assert name in scraped, f"{title}: {name} is not exposed by the server"
            values = scraped[name]
            if name not in MAY_BE_ZERO:
                assert any(value > 0 for _labels, value in values), f"{title}: {name} stays 0"
            exposed_labels = {label for labels, _value in values for label in labels}
            labels_here |= exposed_labels
            for label, op, value in selector.matchers:
                assert label in exposed_labels, f"{title}: {name} has no label {label}"
                if op == "=":
                    seen = {labels.get(label) for labels, _value in values}
                    assert value in seen, f"{title}: {name}{{{label}={value!r}}} never occurs"
        missing = parsed.grouping - labels_here
        assert not missing, f"{title}: grouped by {missing}, which {expression!r} lacks"
    families = {
        name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        for name in scraped
        if name.startswith("sts_")
    }
    shown = {
        name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        for name in referenced
    }
    assert families <= shown, f"exposed but on no dashboard panel: {sorted(families - shown)}"


def test_the_promql_reader_finds_metrics_labels_and_grouping() -> None:
    parsed = selectors(
        "histogram_quantile(0.99, sum by (le, endpoint) "
        '(rate(sts_http_request_seconds_bucket{endpoint="oidc.token",status=~"5.."}[5m])))'
        " / on (endpoint) sum(up)"
    )
    assert [s.metric for s in parsed.selectors] == ["sts_http_request_seconds_bucket", "up"]
    assert parsed.selectors[0].matchers == [
        ("endpoint", "=", "oidc.token"),
        ("status", "=~", "5.."),
    ]
    assert parsed.grouping == {"le", "endpoint"}
    with pytest.raises(ValueError, match="cannot read"):
        selectors("sum(rate(x[5m])) # comment")

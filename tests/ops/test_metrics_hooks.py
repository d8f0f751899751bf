"""The lower layers' observers feed the metrics: directory operations (no AD needed here:
a connection factory stands in for the domain controllers) and label values that stay
bounded whatever an audit event's free text says."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from connectors.base import DirectoryUnavailable
from connectors.ldap import connection as ldap_connection
from connectors.ldap.connection import ConnectionPool
from idp import metrics


class _Connection:
    closed = False

    def unbind(self) -> None:
        self.closed = True


class _Factory:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def open(self, _dn: Any = None, _password: Any = None) -> _Connection:
        if self.fail:
            raise OSError("connection refused")
        return _Connection()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def _hooked() -> None:
    if metrics._observe_ldap not in ldap_connection.run_observers:
        ldap_connection.run_observers.append(metrics._observe_ldap)


def test_directory_operations_are_timed_and_failures_counted() -> None:
    count, errors = _value("sts_ldap_operation_seconds_count"), _value("sts_ldap_errors_total")
    pool = ConnectionPool(_Factory(fail=False), bind_dn=None, password=None, size=2)  # type: ignore[arg-type]
    assert pool.run(lambda _connection: "found") == "found"
    assert _value("sts_ldap_operation_seconds_count") == count + 1
    assert _value("sts_ldap_errors_total") == errors

    down = ConnectionPool(_Factory(fail=True), bind_dn=None, password=None, size=2)  # type: ignore[arg-type]
    with pytest.raises(DirectoryUnavailable):
        down.run(lambda _connection: "never")
    assert _value("sts_ldap_operation_seconds_count") == count + 2
    assert _value("sts_ldap_errors_total") == errors + 1


def test_label_values_from_audit_events_stay_bounded() -> None:
    before = _value("sts_saml_requests_refused_total", reason="invalid")
    metrics.observe_audit_event(
        "saml.request.refused", "failure", {"reason": "signature of <evil attacker text> bad"}
    )
    assert _value("sts_saml_requests_refused_total", reason="invalid") == before + 1
    metrics.observe_audit_event(
        "saml.request.refused", "failure", {"reason": "login ended: no_passive"}
    )
    assert _value("sts_saml_requests_refused_total", reason="login_no_passive") >= 1
    metrics.observe_audit_event(
        "oidc.token.refuse",
        "refused",
        {"grant_type": "client_credentials", "refusal": "service agreement not approved"},
    )
    assert (
        _value(
            "sts_oidc_tokens_refused_total",
            grant_type="client_credentials",
            reason="service_agreement_not_approved",
        )
        >= 1
    )
    long = "x" * 500
    metrics.observe_audit_event("oidc.token.refuse", "refused", {"grant_type": long, "error": long})
    assert _value("sts_oidc_tokens_refused_total", grant_type="x" * 48, reason="x" * 48) >= 1
    metrics.observe_audit_event("login.password", "success", {"loa": "<script>"})
    assert _value("sts_logins_total", step="password", outcome="success", loa="Low") >= 1

"""Tokens issued and refused at the three KOMBIT STS endpoints are counted from their
audit events, by front door (``protocol``) and refusal reason, with bounded labels."""

from __future__ import annotations

from prometheus_client import REGISTRY

from idp import metrics
from idp.sts import core
from tests.sts.kit import OAUTH_PATH, OTHER_CVR, StsWorld, tls
from tests.sts.soap_kit import issue, post, request_for
from tests.sts.test_json_endpoint import post as post_json
from tests.sts.test_json_endpoint import request_body
from tests.sts.test_oauth_endpoint import form

ISSUED = "sts_kombit_tokens_issued_total"
REFUSED = "sts_kombit_tokens_refused_total"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_endpoint_counts_what_it_issues_and_refuses(sts_world: StsWorld) -> None:
    pki = sts_world.pki
    issued = {p: _value(ISSUED, protocol=p) for p in core.PROTOCOLS}
    refused = {
        ("oauth", "no_certificate"): _value(REFUSED, protocol="oauth", reason="no_certificate"),
        ("rest", "not_approved"): _value(REFUSED, protocol="rest", reason="not_approved"),
        ("soap", "not_approved"): _value(REFUSED, protocol="soap", reason="not_approved"),
    }

    issue(sts_world, pki.sapa)
    assert post_json(sts_world, request_body(pki.sapa), pki.sapa).status_code == 200
    oauth = sts_world.client.post(OAUTH_PATH, data=form(), environ_base=tls(pki.sapa))
    assert oauth.status_code == 200, oauth.get_json()
    assert sts_world.client.post(OAUTH_PATH, data=form()).status_code == 401
    not_approved = post_json(sts_world, request_body(pki.sapa, cvr=OTHER_CVR), pki.sapa)
    assert not_approved.status_code == 403, not_approved.get_json()
    assert post(sts_world.client, request_for(pki.sapa, cvr=OTHER_CVR).xml).status_code == 500

    for protocol in core.PROTOCOLS:
        assert _value(ISSUED, protocol=protocol) == issued[protocol] + 1, protocol
    for (protocol, reason), before in refused.items():
        assert _value(REFUSED, protocol=protocol, reason=reason) == before + 1, (protocol, reason)


def test_sts_labels_stay_bounded_whatever_the_event_says() -> None:
    assert set(core.PROTOCOLS) == metrics._STS_PROTOCOLS
    long = "x" * 500
    before = _value(REFUSED, protocol="other", reason="x" * 48)
    metrics.observe_audit_event("sts.token.refuse", "failure", {"protocol": long, "reason": long})
    assert _value(REFUSED, protocol="other", reason="x" * 48) == before + 1
    issued = _value(ISSUED, protocol="other")
    metrics.observe_audit_event("sts.token.issue", "success", {})
    assert _value(ISSUED, protocol="other") == issued + 1

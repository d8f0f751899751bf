"""The token endpoint's per-process helpers: the agreement cache and the audit batcher."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from idp.oidc.authz_port import AgreementCache, AgreementDecision, AgreementRefusal, ServiceRef
from store import audit_batch
from store.audit_batch import AuditBatcher


def _decision(refusal: AgreementRefusal | None) -> AgreementDecision:
    return AgreementDecision(ServiceRef("ORG", "https://org"), None, refusal, None)


class _Counting(AgreementCache):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loads = 0
        self.answer: AgreementDecision | None = _decision(None)

    def _load(self, *args: Any) -> AgreementDecision | None:  # type: ignore[override]
        self.loads += 1
        return self.answer


def test_agreement_answers_are_reused_until_the_ttl() -> None:
    cache = _Counting(ttl=60)
    for _ in range(3):
        cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    assert cache.loads == 1
    cache.decide(None, "SAPA", "https://org", "11111111")  # type: ignore[arg-type]
    assert cache.loads == 2


def test_expired_answers_are_read_again() -> None:
    cache = _Counting(ttl=0)
    cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    assert cache.loads == 2


def test_an_invalidation_message_forgets_every_answer() -> None:
    cache = _Counting(ttl=60)
    cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    cache.answer = _decision(AgreementRefusal.NOT_APPROVED)
    cache.invalidate("authz:invalidate", b"{}")
    got = cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    assert got is not None and got.refusal is AgreementRefusal.NOT_APPROVED


def test_an_answer_read_while_an_invalidation_arrives_is_not_kept() -> None:
    cache = _Counting(ttl=60)
    original = cache._load

    def racing(*args: Any) -> AgreementDecision | None:
        cache.invalidate()
        return original(*args)

    cache._load = racing  # type: ignore[method-assign]
    cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    cache._load = original  # type: ignore[method-assign]
    cache.decide(None, "SAPA", "https://org", "29189846")  # type: ignore[arg-type]
    assert cache.loads == 2


def _sessions(commits: list[list[str]], fail: threading.Event) -> Any:
    @contextmanager
    def session() -> Iterator[list[str]]:
        batch: list[str] = []
        yield batch
        if fail.is_set():
            raise RuntimeError("commit failed")
        commits.append(batch)

    return session


def test_the_batcher_returns_after_the_commit_and_keeps_every_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        audit_batch.audit,
        "append",
        lambda session, events: session.extend(event.action for event in events),
    )
    commits: list[list[str]] = []
    batcher = AuditBatcher(_sessions(commits, threading.Event()))
    threads = [
        threading.Thread(target=batcher.record, kwargs={"actor": "t", "action": f"e{i}"})
        for i in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = [action for batch in commits for action in batch]
    assert sorted(written) == sorted(f"e{i}" for i in range(50))
    batcher.record(actor="t", action="last")
    assert commits[-1] == ["last"]  # committed before record() returned


def test_a_failed_commit_fails_the_waiting_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        audit_batch.audit,
        "append",
        lambda session, events: session.extend(event.action for event in events),
    )
    fail = threading.Event()
    fail.set()
    batcher = AuditBatcher(_sessions([], fail))
    with pytest.raises(RuntimeError, match="commit failed"):
        batcher.record(actor="t", action="issue")

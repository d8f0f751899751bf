"""Light load for the fault tests, with every answer recorded and judged.

A few client threads per node: ``client_credentials`` (needs PostgreSQL, not Redis), SAML
SSO with an existing session (needs both), and optionally password logins. Each answer
is kept with its start and end time, so a test can ask what was answered while a
dependency was down, and check the rules every answer must keep:

- a success, a clean 503 (with ``Retry-After`` and a message), or a 4xx with a message:
  never a 500, never another 5xx;
- within 10 s (the clients time out after 10 s, which is recorded as a hang);
- no token or assertion while the dependency it needs was down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.faults.cluster import TIMEOUT, Browser, Node, has_assertion, saml_response

HANG = TIMEOUT


@dataclass(frozen=True)
class Answer:
    kind: str  # "token", "sso", "login"
    node: int
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection reset, refused, timeout)
    issued: bool  # a token / an assertion was in it
    detail: str

    def during(self, window: tuple[float, float]) -> bool:
        """Sent after ``window`` began and answered before it ended (entirely inside)."""
        return self.started >= window[0] and self.ended <= window[1]


@dataclass
class Traffic:
    nodes: list[Node]
    kinds: tuple[str, ...] = ("token", "sso")
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    pause: float = 0.02
    new_browser: Callable[[], Browser] = Browser  # who logs in (anne, or an AD user)

    def __enter__(self) -> Traffic:
        for node in self.nodes:
            for kind in self.kinds:
                target: Callable[[Node], None] = getattr(self, f"_{kind}")
                thread = threading.Thread(target=target, args=(node,), daemon=True)
                self.threads.append(thread)
                thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=HANG + 5)

    def _record(self, kind: str, node: Node, started: float, call: Callable[[], Any]) -> Any:
        try:
            outcome = call()
        except requests.RequestException as exc:
            self.answers.append(
                Answer(kind, node.port, started, time.monotonic(), 0, False, repr(exc)[:300])
            )
            return None
        return outcome

    def _token(self, node: Node) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            answer = self._record("token", node, started, node.token)
            if answer is not None:
                issued = answer.status_code == 200 and "access_token" in answer.text
                self.answers.append(
                    Answer(
                        "token",
                        node.port,
                        started,
                        time.monotonic(),
                        answer.status_code,
                        issued,
                        _describe(answer),
                    )
                )
            time.sleep(self.pause)

    def _sso(self, node: Node) -> None:
        browser = self.new_browser()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                answer, _typed = browser.sso_answer(node)
            except requests.RequestException as exc:
                self.answers.append(
                    Answer("sso", node.port, started, time.monotonic(), 0, False, repr(exc)[:300])
                )
                continue
            issued = False
            if answer.status_code == 200 and 'name="SAMLResponse"' in answer.text:
                issued = has_assertion(saml_response(answer))
            self.answers.append(
                Answer(
                    "sso",
                    node.port,
                    started,
                    time.monotonic(),
                    answer.status_code,
                    issued,
                    "" if issued else _describe(answer),
                )
            )
            time.sleep(self.pause)

    def _login(self, node: Node) -> None:
        """A new browser every time: a password login for the SAML SP."""
        while not self.stop.is_set():
            browser = self.new_browser()
            started = time.monotonic()
            try:
                answer, typed = browser.sso_answer(node)
            except requests.RequestException as exc:
                self.answers.append(
                    Answer("login", node.port, started, time.monotonic(), 0, False, repr(exc)[:300])
                )
                continue
            issued = False
            if answer.status_code == 200 and 'name="SAMLResponse"' in answer.text:
                issued = typed and has_assertion(saml_response(answer))
            self.answers.append(
                Answer(
                    "login",
                    node.port,
                    started,
                    time.monotonic(),
                    answer.status_code,
                    issued,
                    "" if issued else _describe(answer),
                )
            )
            time.sleep(self.pause)

    # -- judging ------------------------------------------------------------------------------

    def broken_rules(self, *, allow_unanswered: int = 0) -> list[str]:
        """Every answer that breaks the rules in the module docstring."""
        problems = []
        unanswered = 0
        unanswered_details: list[str] = []
        for answer in self.answers:
            took = answer.ended - answer.started
            if took > HANG:
                problems.append(f"{answer.kind} took {took:.1f} s: {answer.detail}")
            if answer.status == 0:
                unanswered += 1
                unanswered_details.append(f"{answer.kind} at {answer.started:.2f}: {answer.detail}")
            elif answer.status >= 500 and answer.status != 503:
                problems.append(f"{answer.kind} answered {answer.status}: {answer.detail}")
            elif answer.status == 503 and not answer.detail.startswith("503 retry-after"):
                problems.append(f"{answer.kind} 503 without Retry-After/message: {answer.detail}")
            elif 400 <= answer.status < 500 and not answer.detail.strip():
                problems.append(f"{answer.kind} answered {answer.status} without a message")
        if unanswered > allow_unanswered:
            problems.append(
                f"{unanswered} requests got no HTTP answer (allowed {allow_unanswered})"
            )
        return problems

    def issued_during(self, window: tuple[float, float], kind: str) -> list[Answer]:
        return [a for a in self.answers if a.kind == kind and a.issued and a.during(window)]

    def statuses_during(self, window: tuple[float, float], kind: str) -> set[int]:
        return {a.status for a in self.answers if a.kind == kind and a.during(window)}

    def seconds_until_all_succeed(self, since: float, kinds: tuple[str, ...]) -> float:
        """From ``since``: how long until every node answers every kind with success
        from then on (the last failure's end)."""
        last_failure = since
        for answer in self.answers:
            if answer.kind in kinds and answer.started >= since and not answer.issued:
                last_failure = max(last_failure, answer.ended)
        return last_failure - since


# What a 503 must say, in English (JSON for machines) or Danish (pages, by default).
_UNAVAILABLE_WORDS = ("temporarily unavailable", "try again", "midlertidigt", "prøv igen")


def _describe(answer: requests.Response) -> str:
    """``503 retry-after=5 <body>`` for a 503 (the rules read it), else the body start."""
    body = answer.text[:300].replace("\n", " ")
    if answer.status_code == 503:
        retry = answer.headers.get("Retry-After")
        text = answer.text.lower()
        message = any(words in text for words in _UNAVAILABLE_WORDS)
        if retry and message:
            return f"503 retry-after={retry} {body}"
        return f"503 NO-RETRY-AFTER-OR-MESSAGE {body}"
    return body

"""Just enough PromQL reading to check a dashboard against what a server exposes.

:func:`selectors` returns, for one expression, every metric selector (name and label
matchers) and the labels of every ``by``/``without`` clause. Grafana's ``$__…`` variables
are replaced by a duration first. Not a full parser: it knows the functions, aggregations
and keywords a dashboard uses and fails on anything it does not understand, so a query it
cannot read is an error, never silently unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FUNCTIONS = {
    "abs", "absent", "avg_over_time", "ceil", "changes", "clamp_max", "clamp_min", "delta",
    "deriv", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace",
    "max_over_time", "min_over_time", "predict_linear", "rate", "resets", "round", "scalar",
    "sort", "sort_desc", "sum_over_time", "time", "vector",
}  # fmt: skip
AGGREGATIONS = {"sum", "avg", "min", "max", "count", "stddev", "topk", "bottomk", "quantile"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset"}  # fmt: skip

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>\d+(?:\.\d+)?(?:[smhdwy])?)'
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<op>=~|!~|!=|==|>=|<=|[-+*/^%(){}\[\],=<>]))"
)


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (label, op, value)


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def tokens(expression: str) -> list[tuple[str, str]]:
    expression = re.sub(r"\$__\w+|\$\{__\w+\}", "5m", expression)
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read PromQL at {expression[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _labels_in_parens(items: list[tuple[str, str]], start: int) -> tuple[set[str], int]:
    assert items[start] == ("op", "("), items[start:]
    labels: set[str] = set()
    index = start + 1
    while items[index] != ("op", ")"):
        kind, value = items[index]
        if kind == "name":
            labels.add(value)
        index += 1
    return labels, index + 1


def selectors(expression: str) -> Parsed:
    items = tokens(expression)
    parsed = Parsed()
    index = 0
    while index < len(items):
        kind, value = items[index]
        following = items[index + 1] if index + 1 < len(items) else ("", "")
        if kind == "name" and value in ("by", "without"):
            labels, index = _labels_in_parens(items, index + 1)
            parsed.grouping |= labels
            continue
        if kind == "name" and value in KEYWORDS:
            index += 1
            if following == ("op", "("):  # on (...), ignoring (...), group_left (...)
                _labels, index = _labels_in_parens(items, index)
            continue
        if kind == "name" and (value in FUNCTIONS or value in AGGREGATIONS):
            if following != ("op", "(") and following[1] not in ("by", "without"):
                raise ValueError(f"{value} without arguments in {expression!r}")
            index += 1
            continue
        if kind == "name":
            selector = Selector(value)
            index += 1
            if index < len(items) and items[index] == ("op", "{"):
                index += 1
                while items[index] != ("op", "}"):
                    if items[index] == ("op", ","):
                        index += 1
                        continue
                    (k1, label), (k2, op), (k3, text) = items[index : index + 3]
                    if k1 != "name" or k2 != "op" or k3 != "string":
                        raise ValueError(f"cannot read the matchers of {value} in {expression!r}")
                    selector.matchers.append((label, op, text[1:-1]))
                    index += 3
                index += 1
            parsed.selectors.append(selector)
            continue
        if kind == "op" and value == "[":  # a range: [5m]
            while items[index] != ("op", "]"):
                index += 1
        index += 1
    return parsed

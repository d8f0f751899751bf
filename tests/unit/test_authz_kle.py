"""KLE normalisation exactly as CATALOGUE.md and OS2rollekatalog write it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authz import kle


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], ("99.99.99",)),
        (["27"], ("27.*",)),
        (["27.35"], ("27.35.*",)),
        (["27.35.04"], ("27.35.04",)),
        (["27.*", "27.35.*", "27.35.04"], ("27.*",)),
        (["27.35.04", "27.35"], ("27.35.*",)),
        (["32.01", "15.02.03", "15.*", "32.01.05"], ("15.*", "32.01.*")),
        (["27.35.04", "27.35.04", " 27.35.04 "], ("27.35.04",)),
        (["*", "abc", "1.2", "27.35.04.*", "270"], ("99.99.99",)),
        (["99.99.99"], ("99.99.99",)),
        (["99.99.99", "32.*"], ("32.*",)),
        (["32.02", "32.01"], ("32.01.*", "32.02.*")),
    ],
)
def test_normalise(codes: list[str], expected: tuple[str, ...]) -> None:
    assert kle.normalise(codes) == expected


def test_covers() -> None:
    granted = kle.normalise(["27.*", "32.01.05"])
    assert kle.covers(granted, "27.35.04")
    assert kle.covers(granted, "27.35")
    assert kle.covers(granted, "32.01.05")
    assert not kle.covers(granted, "32.01")
    assert not kle.covers(granted, "32.01.06")
    assert not kle.covers(["99.99.99"], "99.99.99")


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
codes = st.one_of(
    two,
    st.tuples(two, two).map(".".join),
    st.tuples(two, two, two).map(".".join),
    st.tuples(two, two).map(lambda t: ".".join(t) + ".*"),
)


@given(st.lists(codes, max_size=8))
def test_normalisation_keeps_exactly_the_covered_subjects(values: list[str]) -> None:
    normalised = kle.normalise(values)
    assert kle.normalise(normalised) == normalised  # idempotent
    assert list(normalised) == sorted(
        normalised, key=lambda c: kle.parse(c) or ()
    ) or normalised == ("99.99.99",)
    valid = [v for v in values if kle.is_valid(v)]
    for value in valid:  # nothing lost ...
        assert kle.covers(normalised, value)
    for value in normalised:  # ... and nothing gained
        if value != kle.NO_KLE:
            assert kle.covers(valid, value)

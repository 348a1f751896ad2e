"""The attribution models: weights per model, and exact splits of an amount."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.attribution import Touch, in_window, split, weights
from reports.choices import AttributionModel

PAID = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def touches(*days_before: float) -> list[Touch]:
    return [Touch(PAID - timedelta(days=d), i, i) for i, d in enumerate(days_before)]


def test_each_model_weights_touches_as_documented():
    three = touches(6, 4, 0)
    assert weights(AttributionModel.LAST_TOUCH, three, PAID) == [0, 0, 1]
    assert weights(AttributionModel.FIRST_TOUCH, three, PAID) == [1, 0, 0]
    assert weights(AttributionModel.LINEAR, three, PAID) == [Fraction(1, 3)] * 3
    assert weights(AttributionModel.POSITION, three, PAID) == [
        Fraction(2, 5), Fraction(1, 5), Fraction(2, 5)
    ]  # fmt: skip
    assert weights(AttributionModel.POSITION, touches(3, 1), PAID) == [Fraction(1, 2)] * 2
    decay = weights(AttributionModel.TIME_DECAY, touches(4, 2, 0), PAID)
    # a touch two days older (one half-life) counts half as much
    assert abs(float(decay[0] / decay[1] - decay[1] / decay[2])) < 1e-8
    assert abs(float(decay[1] / decay[2]) - 0.5) < 1e-8
    for model in AttributionModel.values:
        assert weights(model, touches(1), PAID) == [1]
        assert weights(model, [], PAID) == []


def test_the_window_keeps_seven_days_up_to_the_payment():
    found = in_window(touches(8, 7, 3, 0), PAID)
    assert [t.channel_account_id for t in found] == [1, 2, 3]


def test_a_third_of_a_cent_goes_to_the_earliest_largest_remainder():
    assert split(100, [Fraction(1, 3)] * 3) == [34, 33, 33]
    assert split(1, [Fraction(1, 2)] * 2) == [1, 0]
    assert split(1999, [Fraction(2, 5), Fraction(1, 5), Fraction(2, 5)]) == [800, 400, 799]


@settings(deadline=None)
@given(
    cents=st.integers(min_value=0, max_value=10**9),
    gaps=st.lists(st.floats(min_value=0, max_value=7), min_size=1, max_size=12),
    model=st.sampled_from(AttributionModel.values),
)
def test_credits_always_sum_to_the_amount(cents, gaps, model):
    found = touches(*sorted(gaps, reverse=True))
    shares = weights(model, found, PAID)
    assert sum(shares) == 1
    parts = split(cents, shares)
    assert sum(parts) == cents
    assert all(p >= 0 for p in parts)
    assert all(abs(p - cents * s) < 1 for p, s in zip(parts, shares, strict=True))

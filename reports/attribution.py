"""Multi-touch attribution: how an order's amount is split between the messages (touches)
the customer received in the window before paying.

Pure functions over plain values, used by the rollups (reports.rollups) and tested alone.
Each model gives weights that sum to 1; `split` turns weights into shares of an integer
total (cents, or ten-thousandths of an order) by the largest-remainder method, so an order's
credits always add up to its amount exactly.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from reports.choices import AttributionModel

WINDOW = timedelta(days=7)  # the same window as campaigns.results.ATTRIBUTION_WINDOW
HALF_LIFE = timedelta(days=2)  # time decay: a touch 2 days older counts half as much
FIRST_SHARE, LAST_SHARE = Fraction(2, 5), Fraction(2, 5)  # position-based 40 / 20 / 40


@dataclass(frozen=True)
class Touch:
    """A message the customer got: when, on which channel account, for which campaign and
    push (None when it was not part of one)."""

    at: datetime
    channel_account_id: int | None
    campaign_id: int | None
    push_id: int | None = None


def weights(model: str, touches: Sequence[Touch], paid_at: datetime) -> list[Fraction]:
    """The model's weight for each touch (in time order); they sum to exactly 1."""
    n = len(touches)
    if n == 0:
        return []
    if n == 1:
        return [Fraction(1)]
    if model == AttributionModel.LAST_TOUCH:
        return [Fraction(0)] * (n - 1) + [Fraction(1)]
    if model == AttributionModel.FIRST_TOUCH:
        return [Fraction(1)] + [Fraction(0)] * (n - 1)
    if model == AttributionModel.LINEAR:
        return [Fraction(1, n)] * n
    if model == AttributionModel.POSITION:
        if n == 2:
            return [Fraction(1, 2), Fraction(1, 2)]
        middle = (1 - FIRST_SHARE - LAST_SHARE) / (n - 2)
        return [FIRST_SHARE] + [middle] * (n - 2) + [LAST_SHARE]
    if model == AttributionModel.TIME_DECAY:
        raw = [  # rounded to 1e-9 so the fractions stay small; normalising keeps Σ = 1
            Fraction(
                2 ** (-(paid_at - t.at).total_seconds() / HALF_LIFE.total_seconds())
            ).limit_denominator(10**9)
            for t in touches
        ]
        total = sum(raw)
        return [w / total for w in raw]
    raise ValueError(f"unknown attribution model {model!r}")


def split(total: int, shares: Sequence[Fraction]) -> list[int]:
    """`total` (an integer number of units) divided in proportion to `shares` (summing to 1):
    each part rounded down, the units left over given to the largest remainders (earliest
    first on ties). The parts sum to `total` exactly."""
    exact = [total * s for s in shares]
    parts = [int(x) for x in exact]  # shares are ≥ 0, so int() rounds down
    left = total - sum(parts)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


def in_window(touches: Sequence[Touch], paid_at: datetime) -> list[Touch]:
    """The touches (already in time order) from `WINDOW` before the payment up to it."""
    start = paid_at - WINDOW
    return [t for t in touches if start <= t.at <= paid_at]

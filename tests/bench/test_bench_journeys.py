"""The journey bench at a tiny scale: the engine's work and the SQL baseline's agree."""

import pytest

from bench.journeys import baseline_sql, journey_build
from campaigns.journeys import journeys_advance
from campaigns.models import Enrolment, StepRun
from tags.models import CustomerTag

pytestmark = pytest.mark.django_db(transaction=True)


def test_engine_and_baseline_leave_the_same_state():
    journey, tag = journey_build(40)
    assert journeys_advance(batch=15) == 80  # condition + tag action for each
    copy, copy_tag = journey_build(40)
    assert baseline_sql(copy, copy_tag) > 0
    for j, t in ((journey, tag), (copy, copy_tag)):
        assert CustomerTag.objects.filter(tag=t).count() == 40
        assert StepRun.objects.filter(step__journey=j, status="done").count() == 80
        positions = set(Enrolment.objects.filter(journey=j).values_list("status", "position"))
        assert positions == {("active", 2)}  # parked at the wait

"""Reports in a real browser, on demo data: every report page, the date range and the
attribution model changed through the filter bar (and kept in the URL), a chart's CSV,
and the pages in English. Screenshots: var/screenshots/report-*.png."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign
from config.demo import demo_load
from reports.alerts import alerts_evaluate
from reports.models import AlertRule
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("report-home", "/reports/", "kpi-cards"),
    ("report-channels-oa", "/reports/channels/wechat_oa/", "kpi-cards"),
    ("report-channels-wecom", "/reports/channels/wecom/", "kpi-cards"),
    ("report-channels-mini", "/reports/channels/wechat_mini/", "kpi-cards"),
    ("report-campaigns", "/reports/campaigns/", "campaign-table"),
    ("report-roi", "/reports/roi/", "roi-table"),
    ("report-funnel", "/reports/funnel/", "funnel-table"),
    ("report-retention", "/reports/retention/", "retention-table"),
    ("report-events", "/reports/events/", "report-note"),
    ("report-distribution", "/reports/distribution/", "report-note"),
    ("report-paths", "/reports/paths/", "report-note"),
    ("report-alerts", "/reports/alerts/", "alert-table"),
    ("report-alert-rules", "/reports/alert-rules/", "report-tabs"),
    ("report-review", "/reports/review/", "review-kpis"),
    ("report-rollups", "/reports/rollups/", "rollup-runs"),
]


@pytest.fixture
def brand(django_user_model):
    demo_load(customers=150, seed=5)
    AlertRule.objects.update(notify_wecom=False)  # no sandbox platform in this test
    alerts_evaluate(today=timezone.localdate() - timedelta(days=7))
    alerts_evaluate()
    user = django_user_model.objects.create_user(username="ana", password="pw-ana")
    user.groups.add(Group.objects.get(name="analyst"))
    return user


def test_every_report_page_filters_and_reads_in_both_languages(page, brand):
    login(page, "ana")
    for name, path, testid in PAGES:
        page.goto(page.base + path)
        expect(page.get_by_test_id(testid).first).to_be_visible()
        expect(page.locator("text=Server Error")).to_have_count(0)
        shot(page, name)

    # the date range, through the filter bar: the KPIs and the URL follow it
    page.goto(page.base + "/reports/")
    today = timezone.localdate()
    start = today - timedelta(days=89)
    page.get_by_test_id("filter-start").fill(start.isoformat())
    page.get_by_test_id("filter-end").fill(today.isoformat())
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(rf"start={start.isoformat()}"))
    expect(page.get_by_test_id("report-filters")).to_contain_text(start.isoformat())
    expect(page.get_by_test_id("chart-gmv_trend")).to_be_visible()
    shot(page, "report-home-90-days")

    # the attribution model on the ROI matrix
    page.goto(page.base + f"/reports/roi/?start={(today - timedelta(days=180)).isoformat()}")
    expect(page.get_by_test_id("roi-model")).to_contain_text("末次触点")
    page.get_by_test_id("filter-model").select_option("linear")
    page.get_by_test_id("filter-by").select_option("kind")
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(r"model=linear"))
    expect(page.get_by_test_id("roi-model")).to_contain_text("线性")
    expect(page.get_by_test_id("filter-model")).to_have_value("linear")
    expect(page.get_by_test_id("chart-roi_heatmap")).to_be_visible()
    shot(page, "report-roi-linear")
    with page.expect_download() as download:
        page.get_by_test_id("csv-roi_table").click()
    assert download.value.suggested_filename.endswith(".csv")

    campaign = Campaign.objects.get(utm_code="spring-tea")
    page.goto(page.base + f"/reports/campaigns/{campaign.pk}/")
    expect(page.get_by_test_id("goals")).to_contain_text("归因销售额")
    shot(page, "report-campaign")

    page.get_by_test_id("lang-en").click()
    for name, path, testid in PAGES[:1] + PAGES[5:8] + PAGES[11:12] + PAGES[13:14]:
        page.goto(page.base + path)
        expect(page.get_by_test_id(testid).first).to_be_visible()
        expect(page.get_by_test_id("report-tabs")).to_contain_text("Overview")
        shot(page, f"{name}-en")
    page.get_by_test_id("lang-zh-hans").click()

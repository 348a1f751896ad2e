"""The quarterly review: numbers collected from the shared sources, the XLSX and PDF files,
the rule-based suggestions and the page/download views (permissions, bad quarters, audit)."""

import re
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from campaigns.models import Campaign, CampaignGoal
from campaigns.results import spend_import
from common.models import AuditLog
from customers.ingest import events_ingest, orders_ingest
from reports import review as review_module
from reports.metrics import Totals
from reports.roi import roi_matrix
from reports.rollups import rollups_refresh
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
TODAY = "2026-11-23 12:00 +08:00"  # Q4 is running: Q3 is the last complete quarter
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# (order id, channel, amount, status, paid at): Q3 paid orders add up to 1,000.50
ORDERS = [
    ("Q3-1", "tmall", "300.00", "paid", "2026-07-05T10:00:00+08:00"),
    ("Q3-2", "tmall", "200.50", "completed", "2026-08-10T10:00:00+08:00"),
    ("Q3-3", "app", "500.00", "paid", "2026-09-30T23:30:00+08:00"),  # last local day of Q3
    ("Q3-4", "app", "999.00", "refunded", "2026-08-12T10:00:00+08:00"),  # not GMV
    ("Q2-1", "tmall", "400.00", "paid", "2026-05-01T10:00:00+08:00"),  # previous quarter
    ("Q4-1", "tmall", "700.00", "paid", "2026-10-01T00:30:00+08:00"),  # next quarter
]
Q3_GMV = Decimal("300.00") + Decimal("200.50") + Decimal("500.00")
Q2_GMV = Decimal("400.00")


def _who(n: int) -> list[dict]:
    return [{"kind": "phone", "value": f"1380000{n:04d}"}]


def _event(n: int, name: str, when: str, channel: str = "app") -> dict:
    return {"event_id": f"e-{n}-{name}-{when}", "name": name, "occurred_at": when,
            "channel": channel, "identities": _who(n)}  # fmt: skip


@pytest.fixture
def quarter_data(channels):
    """Ten customers browse in July, view a product in August, eight add to cart, two check
    out and pay; one shares. Orders in Q2, Q3 and Q4; a campaign spends 100 on the OA in Q3."""
    with time_machine.travel(TODAY, tick=False):
        rows = []
        for n in range(10):
            rows.append(_event(n, "view_product", f"2026-08-0{1 + n % 5}T10:00:00+08:00"))
            if n < 8:
                rows.append(_event(n, "add_to_cart", f"2026-08-0{1 + n % 5}T11:00:00+08:00"))
            if n < 2:
                rows.append(_event(n, "checkout", f"2026-08-0{1 + n % 5}T12:00:00+08:00"))
                rows.append(_event(n, "order_paid", f"2026-08-0{1 + n % 5}T12:05:00+08:00"))
        for n in range(30):  # browsing in July: shares stay rare (1 of 53 events)
            rows.append(_event(n % 10, "page_view", f"2026-07-{1 + n:02d}T09:00:00+08:00"))
        rows.append(_event(0, "share", "2026-08-02T09:00:00+08:00", channel="oa"))
        result = events_ingest(rows=rows)
        assert not result.errors
        orders_ingest(rows=[
            {"order_id": oid, "channel": channel, "amount": amount, "status": status,
             "paid_at": paid_at, "identities": _who(i)}
            for i, (oid, channel, amount, status, paid_at) in enumerate(ORDERS)
        ])  # fmt: skip
        campaign = Campaign.objects.create(
            name="秋季上新",
            utm_code="autumn",
            budget=500,
            starts_on=date(2026, 7, 1),
            ends_on=date(2026, 9, 30),
        )
        spend_import(campaign=campaign, text="2026-08-01,oa,60.00,\n2026-09-15,oa,40.00,\n")
        CampaignGoal.objects.create(campaign=campaign, metric="orders", target=10,
                                    deadline=date(2026, 9, 30))  # fmt: skip
        rollups_refresh(start=date(2026, 4, 1), end=date(2026, 11, 23))
    return {"campaign": campaign}


@pytest.fixture
def frozen():
    with time_machine.travel(TODAY, tick=False):
        yield


def _rows_by_label(sheet) -> dict:
    return {row[0]: row for row in sheet.iter_rows(values_only=True) if row and row[0]}


def _pdf_text(pdf: bytes) -> str:
    """The text of an uncompressed reportlab PDF: its `(…) Tj` strings, unescaped and decoded
    from the CID font's UCS-2 encoding (no PDF library needed)."""
    text = []
    for raw in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", pdf):
        data = re.sub(
            rb"\\([0-7]{1,3}|.)",
            lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit()
            else {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)),
            raw, flags=re.S,
        )  # fmt: skip
        text.append(data.decode("utf-16-be", "replace") if len(data) % 2 == 0 else "")
    return "\n".join(text)


# --- quarters ----------------------------------------------------------------------------------


def test_quarter_helpers_and_validation(frozen):
    assert review_module.quarter_of(date(2026, 3, 31)) == (2026, 1)
    assert review_module.quarter_of(date(2026, 10, 1)) == (2026, 4)
    assert review_module.quarter_bounds(2026, 4) == (date(2026, 10, 1), date(2026, 12, 31))
    assert review_module.quarter_bounds(2024, 1) == (date(2024, 1, 1), date(2024, 3, 31))
    assert review_module.last_complete_quarter() == (2026, 3)
    assert review_module.last_complete_quarter(date(2026, 2, 1)) == (2025, 4)
    for year, quarter in [(2026, 5), (2026, 0), (1900, 1), (2027, 1), ("x", 1)]:
        with pytest.raises(ValueError):
            review_module.review_data(year=year, quarter=quarter)


# --- numbers -----------------------------------------------------------------------------------


def test_review_data_collects_the_quarter(quarter_data):
    with time_machine.travel(TODAY, tick=False):
        data = review_module.review_data(year=2026, quarter=3)
        current = review_module.review_data(year=2026, quarter=4)
    assert (data["start"], data["end"], data["partial"]) == (date(2026, 7, 1), date(2026, 9, 30),
                                                             False)  # fmt: skip
    kpis = {k["key"]: k for k in data["kpis"]}
    assert kpis["gmv"]["value"] == Q3_GMV and kpis["gmv"]["previous"] == Q2_GMV
    assert kpis["gmv"]["change"] == pytest.approx(float((Q3_GMV - Q2_GMV) / Q2_GMV))
    assert kpis["orders"]["value"] == 3 and kpis["refund_amount"]["value"] == Decimal("999.00")
    assert kpis["spend"]["value"] == Decimal("100.00")
    assert data["roi"]["total"]["spend"] == Decimal("100.00")
    assert data["roi"]["total"]["revenue"] == Q3_GMV
    [goal] = data["goals"]
    assert (goal["campaign"], goal["target"], goal["actual"]) == ("秋季上新", 10, 0)
    assert goal["state"] == "未达成"  # the deadline has passed
    assert [s["count"] for s in data["funnel"]["steps"]] == [10, 8, 2, 2]
    # the current quarter runs to today and is compared with the same days of Q3
    assert current["partial"] and current["end"] == date(2026, 11, 23)
    assert current["previous"]["end"] == date(2026, 8, 23)
    assert {k["key"]: k["value"] for k in current["kpis"]}["gmv"] == Decimal("700.00")


def test_suggestions_state_the_numbers_they_rest_on(quarter_data):
    with time_machine.travel(TODAY, tick=False):
        data = review_module.review_data(year=2026, quarter=3)
    by_topic = {s["topic"]: s for s in data["suggestions"]}
    # add to cart → checkout loses 6 of 8 (75 %): the largest drop
    assert "加入购物车→提交订单 流失 75.0%" in by_topic["漏斗"]["title"]
    assert "8 人，其中 6 人" in by_topic["漏斗"]["basis"]
    # one share among 53 events (30 page views, 10 + 8 + 2 + 2 funnel steps, the share)
    share = by_topic["社交裂变"]
    assert "分享仅占全部行为的 1.9%" in share["title"] and "分享节点" in share["title"]
    assert share["basis"] == "分享 1 次 / 事件 53 次"
    # a single channel with spend: no ROI comparison between channels
    assert "预算" not in by_topic


def test_no_suggestion_without_data(frozen, channels):
    data = review_module.review_data(year=2026, quarter=3)
    assert not data["has_data"] and data["suggestions"] == []
    assert data["funnel"]["entered"] == 0


# --- files -------------------------------------------------------------------------------------


def test_xlsx_totals_match_the_roi_matrix_and_the_orders(quarter_data):
    with time_machine.travel(TODAY, tick=False):
        data = review_module.review_data(year=2026, quarter=3)
        body = review_module.review_xlsx(data)
        matrix = roi_matrix(start=date(2026, 7, 1), end=date(2026, 9, 30), by="kind")
    book = load_workbook(BytesIO(body))
    assert book.sheetnames == ["概览", "ROI 矩阵", "热门活动", "活动目标", "漏斗", "留存",
                               "路径建议"]  # fmt: skip
    roi_sheet = book["ROI 矩阵"]
    assert roi_sheet.freeze_panes == "A2" and roi_sheet["A1"].font.bold
    total = _rows_by_label(roi_sheet)["合计"]
    assert Decimal(str(total[2])) == matrix["total"]["spend"] == Decimal("100.00")
    assert Decimal(str(total[3])) == matrix["total"]["revenue"]
    assert Decimal(str(total[4])) == matrix["total"]["campaign_revenue"]
    assert Decimal(str(total[5])) == matrix["total"]["orders"] == 3
    assert total[7] == pytest.approx(matrix["total"]["roi"])
    assert roi_sheet.cell(row=2, column=3).number_format == "#,##0.00"
    overview = _rows_by_label(book["概览"])
    assert overview["指标"][1:3] == ("2026-Q3", "2026-Q2")
    assert Decimal(str(overview["成交额"][1])) == Q3_GMV
    assert Decimal(str(overview["成交额"][2])) == Q2_GMV
    funnel = _rows_by_label(book["漏斗"])
    assert funnel["2. 加入购物车"][2] == 8 and funnel["3. 提交订单"][5] == 6
    goals = _rows_by_label(book["活动目标"])
    assert goals["秋季上新"][1] == "归因订单数" and goals["秋季上新"][2] == 10


def test_pdf_has_pages_a_chart_and_a_text_layer(quarter_data):
    with time_machine.travel(TODAY, tick=False):
        data = review_module.review_data(year=2026, quarter=3)
        body = review_module.review_pdf(data, compress=False)
        compressed = review_module.review_pdf(data)
    assert body.startswith(b"%PDF") and compressed.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type /Page[^s]", body))
    assert pages >= 3  # title page + at least two pages of sections
    assert len(re.findall(rb"/Type /Page[^s]", compressed)) == pages
    text = _pdf_text(body)
    for heading in (
        "多渠道营销效果白皮书",
        "一、核心指标（与上季度对比）",
        "二、渠道 ROI 矩阵",
        "四、转化漏斗",
        "六、用户路径优化建议",
        "2026-Q3",
        f"第 {pages} 页",
    ):
        assert heading in text, heading  # fmt: skip
    assert "¥1,000.50" in text  # the quarter's GMV
    assert "各渠道活动归因收入与花费（元）" in text  # the bar chart's title


def test_a_failing_analysis_section_is_a_note_not_a_crash(quarter_data, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(review_module.analysis, "funnel", broken)
    with time_machine.travel(TODAY, tick=False):
        data = review_module.review_data(year=2026, quarter=3)
        book = load_workbook(BytesIO(review_module.review_xlsx(data)))
        pdf = review_module.review_pdf(data, compress=False)
    assert "error" in data["funnel"]
    assert "暂时无法生成" in book["漏斗"]["A2"].value
    assert "暂时无法生成" in _pdf_text(pdf)
    assert "漏斗" not in {s["topic"] for s in data["suggestions"]}


# --- views -------------------------------------------------------------------------------------


def test_analyst_downloads_both_files_and_each_is_audited(client, analyst, quarter_data):
    client.force_login(analyst)
    with time_machine.travel(TODAY, tick=False):
        pdf = client.get(reverse("reports:review_download", args=[2026, 3, "pdf"]))
        xlsx = client.get(reverse("reports:review_download", args=[2026, 3, "xlsx"]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"] == 'attachment; filename="quanyu-review-2026-Q3.pdf"'
    assert xlsx.status_code == 200 and xlsx["Content-Type"] == XLSX
    assert xlsx["Content-Disposition"] == 'attachment; filename="quanyu-review-2026-Q3.xlsx"'
    assert load_workbook(BytesIO(xlsx.content)).sheetnames[0] == "概览"
    logs = AuditLog.objects.filter(action=AuditLog.Action.EXPORT, actor=analyst)
    assert sorted(log.details["format"] for log in logs) == ["pdf", "xlsx"]
    assert all(log.details["year"] == 2026 and log.details["quarter"] == 3 for log in logs)


@pytest.mark.parametrize(
    "year, quarter, fmt", [(2026, 5, "pdf"), (1900, 1, "xlsx"), (2027, 1, "pdf"), (2026, 3, "csv")]
)
def test_bad_quarter_or_format_is_404(client, analyst, frozen, year, quarter, fmt):
    client.force_login(analyst)
    response = client.get(reverse("reports:review_download", args=[year, quarter, fmt]))
    assert response.status_code == 404
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_staff_may_not_see_or_download(client, django_user_model, frozen):
    client.force_login(make_user(django_user_model, "guide", "staff"))
    assert client.get(reverse("reports:review")).status_code == 403
    url = reverse("reports:review_download", args=[2026, 3, "pdf"])
    assert client.get(url).status_code == 403


def test_page_previews_the_last_complete_quarter(client, analyst, quarter_data):
    client.force_login(analyst)
    with time_machine.travel(TODAY, tick=False):
        response = client.get(reverse("reports:review"))
        current = client.get(reverse("reports:review"), {"q": "2026-Q4"})
        bad = client.get(reverse("reports:review"), {"q": "2026-Q9"})
    html = response.content.decode()
    assert response.status_code == 200 and response.context["selected"] == "2026-Q3"
    assert 'data-testid="kpi-gmv">¥1,000.50<' in html
    assert reverse("reports:review_download", args=[2026, 3, "xlsx"]) in html
    assert "加入购物车→提交订单 流失 75.0%" in html
    assert current.status_code == 200 and current.context["data"]["partial"]
    assert "截至今日" in current.content.decode()
    assert bad.status_code == 200 and bad.context["selected"] == "2026-Q3"
    assert "无效的季度" in bad.content.decode()


def test_page_without_data_shows_the_empty_state(client, analyst, frozen):
    client.force_login(analyst)
    response = client.get(reverse("reports:review"))
    assert response.status_code == 200
    assert 'data-testid="empty-state"' in response.content.decode()


def test_channels_far_from_the_mean_roi_get_budget_suggestions():
    def channel(code, name, roi, spend, revenue):
        return {"channel": code, "channel_name": name, "roi": roi, "spend": Decimal(spend),
                "revenue": Decimal(revenue), "campaign_revenue": Decimal(revenue)}  # fmt: skip

    roi = {"channels": [channel("app", "App", 3.2, "100", "420"),
                        channel("douyin", "抖音", 0.2, "500", "600"),
                        channel("wechat_oa", "公众号", 1.0, "50", "100"),
                        channel("tmall", "天猫", None, "0", "900")]}  # fmt: skip
    data = {"roi": roi, "funnel": {"steps": []}, "retention": {"cohorts": []}}
    found = review_module.suggestions(data, Totals(days=1))
    # the mean of 3.2, 0.2 and 1.0 is 1.47; ±0.73 marks a channel as far from it
    assert [s["title"] for s in found] == [
        "App ROI 3.20，明显高于渠道均值 1.47：建议向该渠道追加预算",
        "抖音 ROI 0.20，明显低于渠道均值 1.47：建议削减或转移该渠道预算，并复查素材与定向",
    ]
    assert found[1]["basis"] == "花费 500，归因收入 600"

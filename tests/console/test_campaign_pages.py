"""Campaign console pages: campaigns, goals and spend, the content library, forbidden words."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Campaign, CampaignGoal, ContentItem, ForbiddenWord, SpendEntry
from tests.conftest import resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def readonly(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def campaign(db):
    return Campaign.objects.create(name="秋季上新", utm_code="autumn", budget=1000)


CONTENT = {
    "name": "秋季新品",
    "core_text": "{{ name }}，秋季新品到店",
    "sms-text": "{{ name }}，新品到店，回复TD退订",
    "wecom-link": "https://shop.example.com/",
    "wechat_mini-data": '{"thing1": {"value": "{{ name }}"}}',
    "wechat_mini-template_id": "TPL1",
}


def test_campaign_list_create_and_detail(console, campaign, channels):
    SpendEntry.objects.create(campaign=campaign, channel_account=channels["oa"],
                              spent_on="2026-11-01", amount=250)  # fmt: skip
    page = console.get("/campaigns/")
    assert page.status_code == 200
    row = page.context["page"].object_list[0]
    assert row.spent == Decimal("250") and row.push_count == 0
    assert console.get("/campaigns/new/").status_code == 200
    bad = console.post("/campaigns/new/", {"name": "双11", "utm_code": "d 11", "status": "draft",
                                           "budget": "10", "starts_on": "2026-11-11",
                                           "ends_on": "2026-11-01"})  # fmt: skip
    assert bad.status_code == 400
    assert {"utm_code", "ends_on"} <= set(bad.context["form"].errors)
    good = console.post("/campaigns/new/", {"name": "双11", "utm_code": "d11", "status": "draft",
                                            "budget": "5000"})  # fmt: skip
    assert good.status_code == 302
    created = Campaign.objects.get(utm_code="d11")
    assert console.get(f"/campaigns/{created.pk}/edit/").status_code == 200
    detail = console.get(f"/campaigns/{campaign.pk}/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert 'data-testid="chart-spend"' in html and "plotly/plotly.min.js" in html
    assert 'data-testid="budget-used">25%' in html


def test_goals_and_spend_are_added_and_bad_forms_answer_400(console, campaign, channels):
    url = f"/campaigns/{campaign.pk}"
    bad = console.post(f"{url}/goals/", {"goal-metric": "revenue", "goal-target": "0",
                                         "goal-deadline": "2026-12-01"})  # fmt: skip
    assert bad.status_code == 400 and not CampaignGoal.objects.exists()
    good = console.post(f"{url}/goals/", {"goal-metric": "revenue", "goal-target": "5000",
                                          "goal-deadline": "2026-12-01"})  # fmt: skip
    assert good.status_code == 302
    goal = CampaignGoal.objects.get()
    assert 'data-testid="goal-progress"' in console.get(f"{url}/").content.decode()
    assert console.post(f"{url}/goals/{goal.pk}/delete/").status_code == 302
    assert not CampaignGoal.objects.exists()
    spend = {"spend-spent_on": "2026-11-01", "spend-channel_account": channels["oa"].pk,
             "spend-amount": "-5"}  # fmt: skip
    assert console.post(f"{url}/spend/", spend).status_code == 400
    spend["spend-amount"] = "120"
    assert console.post(f"{url}/spend/", spend).status_code == 302
    assert campaign.spend.get().amount == 120


def test_spend_csv_import_reports_rows_and_writes_nothing_on_errors(console, campaign, channels):
    url = f"/campaigns/{campaign.pk}/spend/import/"

    def upload(text):
        return console.post(url, {"import-file": SimpleUploadedFile("spend.csv", text.encode())})

    bad = upload("2026-11-01,oa,100,ok\n2026-11-02,nowhere,5,\n")
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'data-testid="import-errors"' in html and "nowhere" in html
    assert not SpendEntry.objects.exists()
    assert upload("date,channel code,amount,note\n2026-11-01,oa,100,ok\n").status_code == 302
    assert SpendEntry.objects.get().channel_account == channels["oa"]


def test_content_create_edit_preview_and_errors(console):
    resolve(("phone", "13800000001", ""), name="王芳")
    assert console.get("/campaigns/content/").status_code == 200
    assert console.get("/campaigns/content/new/").status_code == 200
    assert console.post("/campaigns/content/new/", CONTENT).status_code == 302
    item = ContentItem.objects.get()
    assert {v.channel_kind for v in item.variants.all()} == {"sms", "wecom", "wechat_mini"}
    edit = console.get(f"/campaigns/content/{item.pk}/")
    assert edit.status_code == 200 and "回复TD退订" in edit.content.decode()
    listing = console.get("/campaigns/content/?q=秋季").content.decode()
    assert "秋季新品" in listing
    assert "秋季新品" not in console.get("/campaigns/content/?q=圣诞").content.decode()
    preview = console.post("/campaigns/content/preview/", CONTENT).content.decode()
    assert "【茶小满】王芳，新品到店" in preview and 'data-testid="preview-app"' in preview

    ForbiddenWord.objects.create(word="最低价")
    bad = console.post(f"/campaigns/content/{item.pk}/", {**CONTENT, "sms-text": "最低价"})
    assert bad.status_code == 400
    assert "最低价" in str(bad.context["variant_forms"][3].errors["text"])
    assert bad.context["first_invalid"] == "sms"
    unknown = console.post("/campaigns/content/new/", {**CONTENT, "core_text": "{{ nick }}"})
    assert unknown.status_code == 400 and "nick" in str(unknown.context["form"].errors)
    bad_json = console.post("/campaigns/content/new/", {**CONTENT, "wechat_mini-data": "{"})
    assert bad_json.status_code == 400
    assert ContentItem.objects.count() == 1
    problems = console.post("/campaigns/content/preview/", {**CONTENT, "sms-text": "最低价"})
    assert 'data-testid="preview-problems"' in problems.content.decode()


def test_forbidden_words_page(console):
    assert console.get("/campaigns/forbidden-words/").status_code == 200
    assert console.post("/campaigns/forbidden-words/", {"word": ""}).status_code == 400
    assert console.post("/campaigns/forbidden-words/", {"word": "国家级"}).status_code == 302
    word = ForbiddenWord.objects.get()
    assert console.post("/campaigns/forbidden-words/", {"word": "国家级"}).status_code == 400
    console.post("/campaigns/forbidden-words/", {"delete": word.pk})
    assert not ForbiddenWord.objects.exists()


def test_analyst_reads_but_cannot_write(readonly, campaign):
    item = ContentItem.objects.create(name="内容", core_text="你好")
    for url in ("/campaigns/", f"/campaigns/{campaign.pk}/", f"/campaigns/{campaign.pk}/edit/",
                "/campaigns/content/", f"/campaigns/content/{item.pk}/",
                "/campaigns/forbidden-words/"):  # fmt: skip
        assert readonly.get(url).status_code == 200, url
    for url in ("/campaigns/new/", f"/campaigns/{campaign.pk}/edit/",
                f"/campaigns/{campaign.pk}/goals/", f"/campaigns/{campaign.pk}/spend/",
                f"/campaigns/{campaign.pk}/spend/import/", "/campaigns/content/new/",
                f"/campaigns/content/{item.pk}/", "/campaigns/forbidden-words/"):  # fmt: skip
        assert readonly.post(url, {"name": "x"}).status_code == 403, url
    editor = readonly.get("/campaigns/content/new/").content.decode()
    assert 'data-testid="content-save"' not in editor


def test_pages_need_a_login(client, campaign):
    assert client.get("/campaigns/").status_code == 302
    assert client.get("/campaigns/content/").status_code == 302


def test_lists_read_in_a_fixed_number_of_queries(console, channels, django_assert_max_num_queries):
    for n in range(5):
        item = ContentItem.objects.create(name=f"内容{n}", core_text="你好")
        item.variants.create(channel_kind="sms", fields={"text": "你好"})
        campaign = Campaign.objects.create(name=f"活动{n}", utm_code=f"c{n}")
        SpendEntry.objects.create(campaign=campaign, spent_on="2026-11-01", amount=10)
    with django_assert_max_num_queries(12):
        assert console.get("/campaigns/content/").status_code == 200
    with django_assert_max_num_queries(12):
        assert console.get("/campaigns/").status_code == 200

"""Console pages of the tag library, mappings, rules and bulk tagging from the customer list."""

import json

import pytest

from channels.models import ChannelAccount
from customers.models import Customer
from tags.models import CustomerTag, Tag, TagGroup, TagMapping, TagRule, TagSource

pytestmark = pytest.mark.django_db


def test_groups_and_tags_crud_with_counts_and_creator(client, operator):
    client.force_login(operator)
    assert 'data-testid="empty-state"' in client.get("/tags/").content.decode()
    assert client.post("/tags/groups/new/", {"name": "兴趣偏好"}).status_code == 302
    group = TagGroup.objects.get()
    duplicate = client.post("/tags/groups/new/", {"name": "兴趣偏好"})
    assert duplicate.status_code == 400 and TagGroup.objects.count() == 1
    created = client.post(
        "/tags/new/", {"group": group.pk, "name": "绿茶", "color": "#2fb344", "description": ""}
    )
    tag = Tag.objects.get()
    assert created["Location"] == f"/tags/{tag.pk}/" and tag.created_by == operator
    bad_colour = client.post("/tags/new/", {"group": group.pk, "name": "红茶", "color": "red"})
    assert bad_colour.status_code == 400 and Tag.objects.count() == 1
    customer = Customer.objects.create(name="小满")
    CustomerTag.objects.create(customer=customer, tag=tag, added_by=operator)
    index = client.get("/tags/").content.decode()
    assert "绿茶" in index and "1 人" in index and operator.username in index
    detail = client.get(f"/tags/{tag.pk}/")
    assert detail.context["assigned"] == 1 and detail.context["by_source"] == [("手动", 1)]
    renamed = client.post(
        f"/tags/{tag.pk}/", {"group": group.pk, "name": "龙井", "color": "#2fb344"}
    )
    assert renamed.status_code == 302 and Tag.objects.get().name == "龙井"
    assert client.get("/tags/", {"q": "龙"}).context["groups"].count() == 1
    # a group with tags is protected; the tag goes with its assignments
    client.post(f"/tags/groups/{group.pk}/", {"name": "兴趣偏好", "delete": "1"})
    assert TagGroup.objects.exists()
    client.post(f"/tags/{tag.pk}/", {"delete": "1"})
    assert not Tag.objects.exists() and not CustomerTag.objects.exists()


def test_platform_tag_mapping(client, operator, channels):
    client.force_login(operator)
    tag = Tag.objects.create(group=TagGroup.objects.create(name="g"), name="绿茶")
    wecom = ChannelAccount.objects.get(code="wecom")
    added = client.post(
        f"/tags/{tag.pk}/",
        {"mapping": "1", "account": wecom.pk, "external_id": "etABC", "external_name": "绿茶"},
    )
    assert added.status_code == 302
    mapping = TagMapping.objects.get()
    assert (mapping.platform, mapping.account, mapping.tag) == ("wecom_corp_tag", wecom, tag)
    other = Tag.objects.create(group=tag.group, name="红茶")
    clash = client.post(
        f"/tags/{other.pk}/", {"mapping": "1", "account": wecom.pk, "external_id": "etABC"}
    )
    assert clash.status_code == 400 and TagMapping.objects.count() == 1
    tmall = ChannelAccount.objects.get(code="tmall")  # stores have no tags to map
    wrong = client.post(
        f"/tags/{other.pk}/", {"mapping": "1", "account": tmall.pk, "external_id": "x"}
    )
    assert wrong.status_code == 400
    client.post(f"/tags/mappings/{mapping.pk}/delete/")
    assert not TagMapping.objects.exists()


def test_rule_pages_create_run_and_show_history(
    client, operator, django_capture_on_commit_callbacks
):
    client.force_login(operator)
    tag = Tag.objects.create(group=TagGroup.objects.create(name="g"), name="上海客户")
    Customer.objects.create(name="a", city="上海")
    definition = {"attr": "city", "op": "eq", "value": "上海"}
    bad = client.post(
        "/tags/rules/new/",
        {"name": "r", "tag": tag.pk, "mode": "add_only", "schedule": "nightly",
         "definition": json.dumps({"attr": "planet"})},
    )  # fmt: skip
    assert bad.status_code == 400 and "attr" in bad.content.decode()
    saved = client.post(
        "/tags/rules/new/",
        {"name": "上海", "tag": tag.pk, "mode": "sync", "schedule": "manual", "enabled": "on",
         "definition": json.dumps(definition)},
    )  # fmt: skip
    rule = TagRule.objects.get()
    assert saved["Location"] == f"/tags/rules/{rule.pk}/" and rule.mode == "sync"
    client.post(f"/tags/rules/{rule.pk}/")  # run now (eager Celery in tests)
    page = client.get(f"/tags/rules/{rule.pk}/")
    assert [(r.added, r.removed) for r in page.context["runs"]] == [(1, 0)]
    assert CustomerTag.objects.get().source == TagSource.RULE
    listing = client.get("/tags/rules/").content.decode()
    assert "上海" in listing and "+1 / −0" in listing


def test_bulk_tag_from_the_customer_list(client, operator, django_capture_on_commit_callbacks):
    client.force_login(operator)
    tag = Tag.objects.create(group=TagGroup.objects.create(name="g"), name="活动")
    Customer.objects.bulk_create([Customer(name=f"c{i}", city="杭州" if i % 2 else "上海")
                                  for i in range(6)])  # fmt: skip
    ids = list(Customer.objects.filter(city="杭州").values_list("pk", flat=True))
    listing = client.get("/customers/", {"city": "杭州"}).content.decode()
    assert 'data-testid="bulk-form"' in listing and 'data-testid="select-row"' in listing
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/tags/bulk/",
            {"bulk_tag": tag.pk, "bulk_action": "add", "scope": "selected", "id": ids[:2]},
        )
    job = tag.bulk_jobs.get()
    assert response["Location"] == f"/tags/bulk/jobs/{job.pk}/"
    progress = client.get(response["Location"], headers={"HX-Request": "true"})
    assert (
        progress.context["job"].percent == 100 and 'data-status="done"' in progress.content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/tags/bulk/",
            {"bulk_tag": tag.pk, "bulk_action": "add", "scope": "filter", "city": "杭州"},
        )
    assert set(CustomerTag.objects.values_list("customer_id", flat=True)) == set(ids)
    nothing = client.post(
        "/tags/bulk/", {"bulk_tag": tag.pk, "bulk_action": "add", "scope": "selected"}
    )
    assert nothing.status_code == 302 and tag.bulk_jobs.count() == 2
    assert "/tags/bulk/jobs/" in client.get("/tags/bulk/jobs/").content.decode()


def test_catalogue_lists_what_the_builder_offers(client, operator, channels):
    client.force_login(operator)
    Tag.objects.create(group=TagGroup.objects.create(name="g"), name="绿茶")
    Customer.objects.create(name="x", attributes={"shoe_size": 38})
    data = client.get("/tags/catalogue.json").json()
    names = {f["name"]: f for f in data["fields"]}
    assert (
        names["lifecycle"]["choices"][0] == ["new", "新客"] and names["points"]["type"] == "number"
    )
    assert data["attributes"] == ["shoe_size"] and data["tags"][0]["name"] == "绿茶"
    assert "add_to_cart" in {e["name"] for e in data["events"]}
    assert ["wecom", "品牌企业微信"] in data["accounts"]


def test_analyst_reads_but_cannot_change(client, analyst):
    client.force_login(analyst)
    assert client.get("/tags/").status_code == 200 and client.get("/tags/rules/").status_code == 200
    assert client.post("/tags/groups/new/", {"name": "x"}).status_code == 403
    assert client.get("/tags/rules/new/").status_code == 403
    assert client.post(
        "/tags/bulk/", {"bulk_tag": 1, "bulk_action": "add", "scope": "filter"}
    ).status_code in (302, 403)

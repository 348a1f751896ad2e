"""Auto-tag rules: add-only and sync modes, run history, nightly and on-demand runs."""

import pytest

from customers.identities import normalize_identity
from customers.models import Customer
from customers.services import customer_resolve
from tags.models import CustomerTag, RuleMode, RuleSchedule, RunStatus, TagRule, TagSource
from tags.rules import tag_rule_run, tag_rule_save
from tags.services import customer_tags_change, tag_create
from tags.tasks import tag_rules_run_task

pytestmark = pytest.mark.django_db
SHANGHAI = {"attr": "city", "op": "eq", "value": "上海"}


def person(phone: str, city: str) -> Customer:
    customer = customer_resolve(identities=[normalize_identity("phone", phone)]).customer
    Customer.objects.filter(pk=customer.pk).update(city=city)
    return customer


def tagged(tag) -> set[int]:
    return set(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))


def test_add_only_rule_tags_matching_customers_once_and_keeps_them(operator):
    tag = tag_create(name="上海客户")
    a, b = person("13800000001", "上海"), person("13800000002", "北京")
    rule = tag_rule_save(name="上海", tag=tag, definition=SHANGHAI, actor=operator)
    run = tag_rule_run(rule=rule)
    assert (run.status, run.matched, run.added, run.removed) == (RunStatus.DONE, 1, 1, 0)
    assignment = CustomerTag.objects.get(tag=tag)
    assert (assignment.customer_id, assignment.source) == (a.pk, TagSource.RULE)
    assert assignment.source_ref == f"rule:{rule.pk}"

    Customer.objects.filter(pk=a.pk).update(city="杭州")
    Customer.objects.filter(pk=b.pk).update(city="上海")
    again = tag_rule_run(rule=rule)
    assert (again.added, again.removed) == (1, 0)
    assert tagged(tag) == {a.pk, b.pk}  # add-only never takes the tag away
    assert list(rule.runs.values_list("added", flat=True)) == [1, 1]


def test_sync_rule_removes_only_its_own_assignments():
    tag = tag_create(name="上海客户")
    a, b = person("13800000001", "上海"), person("13800000002", "北京")
    customer_tags_change(customer=b, add=[tag.pk])  # put on by hand
    rule = tag_rule_save(name="上海同步", tag=tag, definition=SHANGHAI, mode=RuleMode.SYNC)
    first = tag_rule_run(rule=rule)
    assert (first.added, first.removed, first.matched) == (1, 0, 1)
    Customer.objects.filter(pk=a.pk).update(city="杭州")
    second = tag_rule_run(rule=rule)
    assert (second.added, second.removed, second.matched) == (0, 1, 0)
    assert tagged(tag) == {b.pk}  # the manual tag stays


def test_bad_definition_is_rejected_and_a_broken_rule_records_a_failed_run():
    tag = tag_create(name="t")
    with pytest.raises(Exception) as error:
        tag_rule_save(name="坏", tag=tag, definition={"all": [{"attr": "nope"}]})
    assert "all[0].attr" in str(error.value)
    rule = TagRule.objects.create(name="坏", tag=tag, definition={"tag": "不存在的标签"})
    run = tag_rule_run(rule=rule)
    assert run.status == RunStatus.FAILED and "不存在" in run.error
    assert not CustomerTag.objects.exists()


def test_nightly_task_runs_enabled_nightly_rules_only():
    tag = tag_create(name="上海客户")
    person("13800000001", "上海")
    nightly = tag_rule_save(name="夜间", tag=tag, definition=SHANGHAI)
    tag_rule_save(name="手动", tag=tag, definition=SHANGHAI, schedule=RuleSchedule.MANUAL)
    tag_rule_save(name="停用", tag=tag, definition=SHANGHAI, enabled=False)
    assert tag_rules_run_task.delay().get() == 1
    runs = list(TagRule.objects.filter(runs__isnull=False).values_list("name", flat=True))
    assert runs == [nightly.name]
    assert nightly.runs.get().trigger == RuleSchedule.NIGHTLY


def test_platform_tags_map_to_ours_for_channel_syncs(channels):
    from tags.models import TagMapping
    from tags.services import tag_for_platform_tag

    mapped = tag_create(name="绿茶")
    TagMapping.objects.create(
        tag=mapped, account=channels["wecom"], platform="wecom_corp_tag", external_id="et1"
    )
    assert tag_for_platform_tag(account=channels["wecom"], external_id="et1") == mapped
    fresh = tag_for_platform_tag(account=channels["oa"], external_id="2", external_name="星标")
    assert (fresh.name, fresh.group.name) == ("星标", f"{channels['oa'].name}标签")
    assert tag_for_platform_tag(account=channels["oa"], external_id="2") == fresh
    assert TagMapping.objects.get(external_id="2").platform == "oa_tag"


def test_rules_api(api):
    tag = tag_create(name="上海客户")
    person("13800000001", "上海")
    bad = api.post(
        "/api/v1/tag-rules/",
        {"name": "r", "tag": tag.pk, "definition": {"all": [{"attr": "city", "op": "near"}]}},
        format="json",
    )
    assert bad.status_code == 400 and "all[0].op" in " ".join(bad.json()["definition"])
    created = api.post(
        "/api/v1/tag-rules/",
        {"name": "上海", "tag": tag.pk, "definition": SHANGHAI, "mode": "sync"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    run = api.post(f"/api/v1/tag-rules/{rule_id}/run/").json()
    assert (run["status"], run["added"], run["matched"]) == ("done", 1, 1)
    assert api.get(f"/api/v1/tag-rules/{rule_id}/").json()["last_run"]["added"] == 1
    assert api.get(f"/api/v1/tag-rules/{rule_id}/runs/").json()["count"] == 1
    patched = api.patch(f"/api/v1/tag-rules/{rule_id}/", {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False

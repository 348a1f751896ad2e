"""The public API v1 for campaigns, pushes, journeys and real-time triggers: the shapes, 400s
with field errors, 404s, the 409 of a launch awaiting approval, analysts read-only."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign, MessagingSettings, Push
from tests.campaigns.test_materialise import make_audience, make_content
from tests.conftest import make_user, resolve

pytestmark = pytest.mark.django_db

GOAL = {"metric": "revenue", "target": "100000", "deadline": "2026-11-30"}
CAMPAIGN = {"name": "双十一", "utm_code": "double11", "budget": "5000.00",
            "starts_on": "2026-11-01", "ends_on": "2026-11-11", "goals": [GOAL]}  # fmt: skip
RULE = {"name": "加购未付款", "event_a": "add_to_cart", "event_b": "order_paid",
        "within_minutes": 30, "condition": {"attr": "city", "op": "eq", "value": "上海"},
        "action": {"action": "points", "points": 10, "reason": "加购礼"}}  # fmt: skip


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def approver(django_user_model):
    return client_for(make_user(django_user_model, "approver", "operator"))


@pytest.fixture
def push_body(channels):
    return {
        "name": "新品上市",
        "audience": make_audience().pk,
        "content": make_content().pk,
        "channels": [channels["wecom"].pk, channels["oa"].pk],
        "respect_quiet_hours": False,
    }


def journey_body(channels) -> dict:
    return {
        "name": "加购提醒",
        "trigger_kind": "event",
        "trigger": {"event": "add_to_cart"},
        "goal_event": "order_paid",
        "reentry": "cooldown",
        "cooldown_days": 7,
        "steps": [
            {"kind": "wait", "name": "等 1 小时", "config": {"mode": "duration", "hours": 1}},
            {"kind": "condition", "name": "上海客户",
             "config": {"definition": {"attr": "city", "op": "eq", "value": "上海"}}},
            {"kind": "action", "name": "提醒",
             "config": {"action": "send", "content": make_content().pk,
                        "channels": [channels["wecom"].pk, channels["oa"].pk]}},
        ],
    }  # fmt: skip


# --- campaigns -----------------------------------------------------------------------------


def test_campaign_crud_with_goals_and_results(api, operator):
    created = api.post("/api/v1/campaigns/", CAMPAIGN, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["owner"] == operator.username and body["status"] == "draft"
    assert [(g["metric"], g["target"]) for g in body["goals"]] == [("revenue", "100000.00")]

    detail = api.get(f"/api/v1/campaigns/{body['id']}/").json()
    results = detail["results"]
    assert (results["reach"], results["orders"], results["revenue"]) == (0, 0, "0.00")
    assert results["goals"][0]["metric"] == "revenue" and results["goals"][0]["progress"] == 0

    goals = [{"metric": "reach", "target": "500", "deadline": "2026-11-30"},
             {"metric": "orders", "target": "20", "deadline": "2026-11-30"}]  # fmt: skip
    changed = api.patch(f"/api/v1/campaigns/{body['id']}/", {"goals": goals, "status": "active"},
                        format="json")  # fmt: skip
    assert changed.status_code == 200, changed.json()
    assert sorted(g["metric"] for g in changed.json()["goals"]) == ["orders", "reach"]
    assert changed.json()["name"] == "双十一"  # a partial update keeps the rest

    listed = api.get("/api/v1/campaigns/?status=active").json()
    assert [c["id"] for c in listed["results"]] == [body["id"]]

    assert api.delete(f"/api/v1/campaigns/{body['id']}/").status_code == 204
    assert api.get(f"/api/v1/campaigns/{body['id']}/").status_code == 404


def test_campaign_bad_input_is_400_with_field_errors(api):
    assert api.post("/api/v1/campaigns/", CAMPAIGN, format="json").status_code == 201
    again = api.post("/api/v1/campaigns/", CAMPAIGN, format="json")
    assert again.status_code == 400 and "utm_code" in again.json()

    bad = {**CAMPAIGN, "utm_code": "other", "ends_on": "2026-10-01", "budget": "-1",
           "goals": [{"metric": "revenue", "target": "0", "deadline": "2026-11-30"}]}  # fmt: skip
    response = api.post("/api/v1/campaigns/", bad, format="json")
    assert response.status_code == 400
    assert response.json() == {"goals": {"0": {"target": ["目标值必须大于 0"]}}}
    response = api.post("/api/v1/campaigns/", {**bad, "goals": []}, format="json")
    assert response.status_code == 400 and {"ends_on", "budget"} <= set(response.json())
    assert api.post("/api/v1/campaigns/", [1, 2], format="json").status_code == 400
    assert Campaign.objects.count() == 1


def test_campaign_spend(api, channels):
    campaign = api.post("/api/v1/campaigns/", CAMPAIGN, format="json").json()
    url = f"/api/v1/campaigns/{campaign['id']}/spend/"
    entry = {"spent_on": "2026-11-05", "channel_account": channels["douyin"].pk, "amount": "800"}
    assert api.post(url, entry, format="json").status_code == 201
    assert api.post(url, {**entry, "amount": "0"}, format="json").json().keys() == {"amount"}
    assert [e["amount"] for e in api.get(url).json()["results"]] == ["800.00"]
    detail = api.get(f"/api/v1/campaigns/{campaign['id']}/").json()
    assert detail["results"]["spend"] == "800.00" and detail["results"]["budget_used"] == 16
    assert api.post("/api/v1/campaigns/999/spend/", entry, format="json").status_code == 404


# --- pushes --------------------------------------------------------------------------------


def test_push_create_keeps_channel_order_and_shows_runs(api, channels, push_body):
    created = api.post("/api/v1/pushes/", push_body, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["channels"] == [channels["wecom"].pk, channels["oa"].pk]
    assert (body["status"], body["schedule_kind"], body["variants"]) == ("draft", "now", [])

    order = [channels["oa"].pk, channels["wecom"].pk]
    reordered = api.patch(f"/api/v1/pushes/{body['id']}/", {"channels": order}, format="json")
    assert reordered.status_code == 200, reordered.json()
    assert reordered.json()["channels"] == order
    assert reordered.json()["name"] == "新品上市" and reordered.json()["content"] == body["content"]

    detail = api.get(f"/api/v1/pushes/{body['id']}/").json()
    assert detail["runs"] == [] and detail["estimated_reach"] == 0
    assert api.get("/api/v1/pushes/?status=draft").json()["count"] == 1
    assert api.delete(f"/api/v1/pushes/{body['id']}/").status_code == 204


def test_push_bad_input_is_400_with_field_errors(api, channels, push_body):
    response = api.post("/api/v1/pushes/", {"name": "x", "channels": []}, format="json")
    assert response.status_code == 400
    assert {"audience", "content"} <= set(response.json())

    not_sendable = {**push_body, "channels": [channels["tmall"].pk]}
    assert api.post("/api/v1/pushes/", not_sendable, format="json").json().keys() == {"channels"}
    unknown = api.post("/api/v1/pushes/", {**push_body, "audience": 999}, format="json")
    assert unknown.status_code == 400 and "audience" in unknown.json()

    late = {**push_body, "schedule_kind": "at", "send_at": "2020-01-01T10:00:00+08:00"}
    assert api.post("/api/v1/pushes/", late, format="json").json().keys() == {"send_at"}
    bad_cron = api.post("/api/v1/pushes/", {**push_body, "schedule_kind": "periodic",
                                            "cron": "every day"}, format="json")  # fmt: skip
    assert bad_cron.status_code == 400 and "cron" in bad_cron.json()

    other = make_content("备选", "{{ name }}，秋茶到店").pk
    ab = {**push_body, "variants": [{"label": "A", "content": push_body["content"], "share": 50},
                                    {"label": "B", "content": other, "share": 40}]}  # fmt: skip
    assert api.post("/api/v1/pushes/", ab, format="json").json().keys() == {"variants"}
    ab["variants"][1]["share"] = 50
    made = api.post("/api/v1/pushes/", ab, format="json")
    assert made.status_code == 201, made.json()
    assert [(v["label"], v["share"]) for v in made.json()["variants"]] == [("A", 50), ("B", 50)]
    assert made.json()["ab_metric"] == "click_rate"

    assert api.get("/api/v1/pushes/999/").status_code == 404
    assert api.post("/api/v1/pushes/999/launch/").status_code == 404


def test_push_launch_waits_for_approval_then_runs(api, approver, analyst_api, channels, push_body):
    resolve(("wecom_external_userid", "wm-1", "wecom"), name="甲", city="上海")
    resolve(("wechat_openid", "o-2", "oa"), name="乙", city="上海")
    MessagingSettings.objects.update_or_create(pk=1, defaults={"approval_threshold": 1})
    push = api.post("/api/v1/pushes/", push_body, format="json").json()
    url = f"/api/v1/pushes/{push['id']}/"

    estimate = api.post(url + "estimate/").json()
    assert estimate["reach"] == 2 and estimate["needs_approval"] is True
    assert estimate["by_channel"] == [{"channel": channels["wecom"].pk, "reach": 1},
                                      {"channel": channels["oa"].pk, "reach": 1}]  # fmt: skip

    refused = api.post(url + "launch/")
    assert refused.status_code == 409
    assert refused.json()["detail"] and refused.json()["status"] == "awaiting_approval"
    assert refused.json()["estimated_reach"] == 2 and refused.json()["approval_threshold"] == 1

    own = api.post(url + "approve/")  # the creator may not approve their own push
    assert own.status_code == 400 and own.json()["non_field_errors"]
    assert analyst_api.post(url + "approve/").status_code == 403
    approved = approver.post(url + "approve/")
    assert approved.status_code == 200 and approved.json()["approved_by"] == "approver"

    launched = api.post(url + "launch/")
    assert launched.status_code == 200, launched.json()
    assert launched.json()["status"] == "running" and len(launched.json()["runs"]) == 1
    assert launched.json()["runs"][0]["progress"]["total"] == 0  # materialised by the worker

    assert api.patch(url, {"name": "改名"}, format="json").json() == {
        "non_field_errors": ["只有草稿或待审批的推送可以修改"]
    }
    assert api.post(url + "launch/").status_code == 400
    assert api.post(url + "pause/").json()["status"] == "paused"
    assert api.post(url + "pause/").status_code == 400
    assert api.post(url + "resume/").json()["status"] == "running"
    assert api.post(url + "cancel/").json()["status"] == "cancelled"
    assert api.delete(url).status_code == 409
    assert Push.objects.get(pk=push["id"]).status == "cancelled"


def test_push_under_threshold_launches_at_once(api, push_body):
    push = api.post("/api/v1/pushes/", push_body, format="json").json()
    launched = api.post(f"/api/v1/pushes/{push['id']}/launch/")
    assert launched.status_code == 200 and launched.json()["status"] == "running"


# --- journeys ------------------------------------------------------------------------------


def test_journey_created_with_steps_then_activated(api, channels):
    created = api.post("/api/v1/journeys/", journey_body(channels), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft" and body["kind"] == "customer"
    assert [s["kind"] for s in body["steps"]] == ["wait", "condition", "action"]
    assert body["steps"][1]["config"]["no"] == "end"  # normalised by the service
    url = f"/api/v1/journeys/{body['id']}/"

    detail = api.get(url).json()
    assert [s["entered"] for s in detail["stats"]["steps"]] == [0, 0, 0]
    assert detail["stats"]["enrolled"] == 0

    renamed = api.patch(url, {"name": "加购 1 小时提醒"}, format="json")
    assert renamed.status_code == 200 and len(renamed.json()["steps"]) == 3

    activated = api.post(url + "activate/")
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert api.delete(url).status_code == 409
    assert api.post(url + "pause/").json()["status"] == "paused"
    assert api.get("/api/v1/journeys/?status=paused").json()["count"] == 1
    assert api.post(url + "archive/").json()["status"] == "archived"
    again = api.post(url + "activate/")
    assert again.status_code == 400 and again.json()["non_field_errors"]
    assert api.delete(url).status_code == 204


def test_journey_bad_input_is_400_keyed_by_path(api, channels):
    body = journey_body(channels)
    body["steps"][2]["config"].pop("content")
    body["steps"][0]["config"]["hours"] = "soon"
    body["trigger"] = {}
    response = api.post("/api/v1/journeys/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert {"steps[2].content", "steps[0].hours", "trigger.event"} <= set(errors)
    assert all(isinstance(v, list) and v for v in errors.values())

    wrong_kind = api.post("/api/v1/journeys/", {**journey_body(channels), "kind": "robot"},
                          format="json")  # fmt: skip
    assert wrong_kind.status_code == 400 and "kind" in wrong_kind.json()
    no_steps = api.post("/api/v1/journeys/", {**journey_body(channels), "steps": []},
                        format="json")  # fmt: skip
    assert no_steps.json() == {"steps": ["至少需要一个步骤"]}
    assert api.get("/api/v1/journeys/999/").status_code == 404
    assert api.post("/api/v1/journeys/999/activate/").status_code == 404


def test_journey_from_template(api, channels):
    templates = api.get("/api/v1/journeys/templates/").json()
    assert {"birthday", "cart_abandonment"} <= {t["key"] for t in templates}
    made = api.post("/api/v1/journeys/from-template/", {"template": "birthday"}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["trigger_kind"] == "birthday" and made.json()["steps"]
    unknown = api.post("/api/v1/journeys/from-template/", {"template": "nope"}, format="json")
    assert unknown.status_code == 400 and "template" in unknown.json()


def test_journey_template_needing_an_account_is_400(api):
    response = api.post("/api/v1/journeys/from-template/", {"template": "oa_follower_137"},
                        format="json")  # fmt: skip
    assert response.status_code == 400 and response.json()["template"]


# --- trigger rules -------------------------------------------------------------------------


def test_trigger_rule_crud_with_stats(api, channels):
    created = api.post("/api/v1/trigger-rules/", {**RULE, "event_a_channel": channels["tmall"].pk},
                       format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["stats"] == {"by_status": {}, "total": 0, "avg_lag_seconds": None}
    assert body["action"] == {"action": "points", "points": 10, "reason": "加购礼"}
    url = f"/api/v1/trigger-rules/{body['id']}/"

    paused = api.patch(url, {"status": "paused"}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["event_a"] == "add_to_cart"
    assert api.get("/api/v1/trigger-rules/").json()["results"][0]["stats"]["total"] == 0
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_trigger_rule_bad_input_is_400_with_field_errors(api):
    bad = {**RULE, "event_b": "add_to_cart", "within_minutes": 0,
           "condition": {"attr": "nope", "op": "eq", "value": 1}}  # fmt: skip
    response = api.post("/api/v1/trigger-rules/", bad, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert {"event_b", "within_minutes"} <= set(errors)
    assert any(key.startswith("condition") for key in errors)
    no_action = api.post("/api/v1/trigger-rules/", {**RULE, "action": {"action": "fly"}},
                         format="json")  # fmt: skip
    assert no_action.status_code == 400 and "action" in no_action.json()


# --- permissions and schema ----------------------------------------------------------------


def test_analyst_reads_but_cannot_write(api, analyst_api, channels, push_body):
    push = api.post("/api/v1/pushes/", push_body, format="json").json()
    journey = api.post("/api/v1/journeys/", journey_body(channels), format="json").json()
    campaign = api.post("/api/v1/campaigns/", CAMPAIGN, format="json").json()
    for url in ("/api/v1/campaigns/", "/api/v1/pushes/", "/api/v1/journeys/",
                "/api/v1/trigger-rules/"):  # fmt: skip
        assert analyst_api.get(url).status_code == 200
    assert analyst_api.get(f"/api/v1/campaigns/{campaign['id']}/").status_code == 200
    refused = [
        analyst_api.post("/api/v1/campaigns/", {**CAMPAIGN, "utm_code": "x"}, format="json"),
        analyst_api.post(f"/api/v1/campaigns/{campaign['id']}/spend/", {}, format="json"),
        analyst_api.post("/api/v1/pushes/", push_body, format="json"),
        analyst_api.patch(f"/api/v1/pushes/{push['id']}/", {"name": "x"}, format="json"),
        analyst_api.post(f"/api/v1/pushes/{push['id']}/launch/"),
        analyst_api.post(f"/api/v1/pushes/{push['id']}/estimate/"),
        analyst_api.post("/api/v1/journeys/", journey_body(channels), format="json"),
        analyst_api.post(f"/api/v1/journeys/{journey['id']}/activate/"),
        analyst_api.post("/api/v1/journeys/from-template/", {"template": "birthday"}),
        analyst_api.post("/api/v1/trigger-rules/", RULE, format="json"),
        analyst_api.delete(f"/api/v1/journeys/{journey['id']}/"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert Push.objects.get(pk=push["id"]).status == "draft"
    assert APIClient().get("/api/v1/pushes/").status_code in (401, 403)


def test_schema_still_valid(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/journeys/{id}/activate/" in response.content


def test_lists_do_not_query_per_row(api, channels, push_body, django_assert_max_num_queries):
    def add_rows():
        api.post("/api/v1/pushes/", push_body, format="json")
        api.post("/api/v1/journeys/", journey_body(channels), format="json")
        body = {**CAMPAIGN, "utm_code": f"c{Campaign.objects.count()}"}
        api.post("/api/v1/campaigns/", body, format="json")

    add_rows()
    counts = {}
    for url in ("/api/v1/pushes/", "/api/v1/journeys/", "/api/v1/campaigns/"):
        with django_assert_max_num_queries(100) as captured:
            assert api.get(url).status_code == 200
        counts[url] = len(captured)
    for _ in range(3):
        add_rows()
    for url, count in counts.items():
        with django_assert_max_num_queries(count):
            assert api.get(url).json()["count"] == 4

"""The console shell: login and throttling, navigation, home, settings, language switch."""

import pytest

from common.audit import audit_record
from common.models import AuditLog
from customers.identities import normalize_identity
from customers.models import ScoringSettings
from customers.services import customer_resolve

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/customers/",
    "/tags/",
    "/channels/",
    "/campaigns/",
    "/journeys/",
    "/reports/",
    "/settings/",
    "/settings/?tab=scoring",
    "/settings/?tab=roles",
    "/customers/imports/",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", PAGES)
def test_operator_sees_every_page(client, operator, channels, url):
    client.force_login(operator)
    response = client.get(url)
    assert response.status_code == 200
    assert 'data-testid="logout"' in response.content.decode()


def test_login_and_logout(client, operator):
    page = client.get("/login/")
    assert page.status_code == 200 and "登录" in page.content.decode()
    response = client.post("/login/", {"username": "operator1", "password": "pw-operator1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_login_is_throttled_after_repeated_failures(client, django_user_model):
    django_user_model.objects.create_user(username="throttled-user", password="right-password")
    remote = {"REMOTE_ADDR": "10.20.30.40"}
    for _ in range(5):
        bad = client.post("/login/", {"username": "throttled-user", "password": "no"}, **remote)
        assert bad.status_code == 200 and "login-error" in bad.content.decode()
    locked = client.post(
        "/login/", {"username": "throttled-user", "password": "right-password"}, **remote
    )
    assert locked.status_code == 200
    assert "登录失败次数过多" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_home_shows_kpis(client, operator, channels):
    customer_resolve(identities=[normalize_identity("phone", "13812345678")])
    client.force_login(operator)
    response = client.get("/")
    assert response.context["overview"]["customers"] == 1
    assert 'data-testid="kpi-customers">1<' in response.content.decode()


def test_empty_areas_show_an_empty_state(client, operator):
    client.force_login(operator)
    for url in ("/campaigns/", "/journeys/", "/reports/", "/tags/", "/channels/"):
        assert 'data-testid="empty-state"' in client.get(url).content.decode(), url


def test_language_switch(client, operator):
    client.force_login(operator)
    assert "客户" in client.get("/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = client.get("/").content.decode()
    assert "Customers" in english and "Settings" in english
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "设置" in client.get("/").content.decode()


def test_scoring_settings_save_and_validate(client, operator, django_capture_on_commit_callbacks):
    client.force_login(operator)
    valid = {
        "new_days": 14,
        "active_days": 45,
        "churn_days": 200,
        "recency_days": "120, 60, 30, 7",
        "frequency_breaks": "2, 4, 6, 10",
        "monetary_breaks": "100, 300, 800, 2000",
    }
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/settings/?tab=scoring", valid)
    assert response.status_code == 302 and len(callbacks) == 1  # a rescoring was queued
    settings = ScoringSettings.load()
    assert (settings.new_days, settings.recency_days) == (14, [120, 60, 30, 7])
    assert AuditLog.objects.filter(action=AuditLog.Action.UPDATE).exists()

    bad = client.post(
        "/settings/?tab=scoring",
        {**valid, "frequency_breaks": "5, 3, 2, 1", "churn_days": 10, "recency_days": "x"},
    )
    assert bad.status_code == 400
    errors = bad.context["form"].errors
    assert set(errors) == {"frequency_breaks", "churn_days", "recency_days"}
    assert ScoringSettings.load().frequency_breaks == [2, 4, 6, 10]


def test_analyst_reads_scoring_settings_but_cannot_save(client, analyst):
    client.force_login(analyst)
    page = client.get("/settings/?tab=scoring").content.decode()
    assert "<fieldset disabled" in page
    response = client.post("/settings/?tab=scoring", {"new_days": 1})
    assert response.status_code == 403


def test_audit_log_lists_and_filters_entries(client, operator):
    audit_record(action=AuditLog.Action.EXPORT, summary="导出客户 12 人", actor=operator)
    audit_record(action=AuditLog.Action.MERGE, summary="客户 #3 合并到 #1", actor_label="api:x")
    client.force_login(operator)
    everything = client.get("/settings/").content.decode()
    assert "导出客户 12 人" in everything and "客户 #3 合并到 #1" in everything
    merges = client.get("/settings/", {"action": "merge"}).content.decode()
    assert "客户 #3 合并到 #1" in merges and "导出客户 12 人" not in merges
    searched = client.get("/settings/", {"q": "api:x"}).content.decode()
    assert "客户 #3 合并到 #1" in searched and "导出客户 12 人" not in searched


def test_analyst_cannot_read_the_audit_log(client, analyst):
    client.force_login(analyst)
    settings_page = client.get("/settings/")
    assert settings_page.status_code == 200 and settings_page.context["tab"] == "scoring"
    assert 'data-testid="tab-audit"' not in settings_page.content.decode()
    assert client.get("/settings/", {"tab": "audit"}).status_code == 403


def test_chinese_is_the_default_whatever_the_browser_asks(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in page and "Log in" not in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert '<html lang="en">' in client.get("/login/").content.decode()


def test_top_bar_shows_the_role_label(client, operator):
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert 'data-testid="current-role">运营<' in page


def test_audit_pagination_keeps_the_filters(client, operator):
    for n in range(35):
        audit_record(action=AuditLog.Action.EXPORT, summary=f"导出 {n}", actor=operator)
    audit_record(action=AuditLog.Action.MERGE, summary="合并", actor=operator)
    client.force_login(operator)
    first = client.get("/settings/", {"tab": "audit", "action": "export", "q": "导出"})
    assert first.context["page_obj"].paginator.count == 35
    page = first.content.decode()
    assert "?tab=audit&amp;action=export&amp;q=%E5%AF%BC%E5%87%BA&amp;page=2" in page
    second = client.get("/settings/", {"tab": "audit", "action": "export", "q": "导出", "page": 2})
    assert [e.summary for e in second.context["entries"]] == [f"导出 {n}" for n in range(4, -1, -1)]


def test_audit_log_shows_the_object_and_details(client, operator):
    audit_record(
        action=AuditLog.Action.UPDATE,
        summary="改了设置",
        actor=operator,
        obj=ScoringSettings.load(),
        details={"new_days": 14},
    )
    client.force_login(operator)
    page = client.get("/settings/", {"tab": "audit"}).content.decode()
    assert "生命周期与 RFM 设置 #1" in page and "&quot;new_days&quot;: 14" in page


def test_roles_tab_lists_roles_in_order_with_what_they_may_do(client, operator, analyst):
    client.force_login(operator)
    response = client.get("/settings/", {"tab": "roles"})
    assert [group.name for group, _label, _summary in response.context["roles"]] == [
        "admin",
        "operator",
        "analyst",
        "staff",
    ]
    matrix = dict(response.context["matrix"])
    assert matrix["客户"] == ["edit", "edit", "view", "view"]
    assert matrix["标签与人群"] == ["edit", "edit", "view", "edit"]  # staff tag customers
    assert matrix["查看完整手机号与邮箱"] == ["yes", "yes", "", "yes"]
    assert matrix["查看审计日志"] == ["yes", "yes", "", ""]
    page = response.content.decode()
    assert "operator1" in page and "analyst1" in page

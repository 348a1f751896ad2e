import pytest
from django.contrib.auth.models import Group

from common.masking import can_view_pii, mask_email, mask_phone
from common.models import AuditLog

pytestmark = pytest.mark.django_db


def test_roles_exist_with_the_right_pii_permission(django_user_model):
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "admin",
        "operator",
        "analyst",
        "staff",
    }
    for role, sees_pii in {
        "admin": True,
        "operator": True,
        "analyst": False,
        "staff": True,
    }.items():
        user = django_user_model.objects.create_user(f"u-{role}")
        user.groups.add(Group.objects.get(name=role))
        user = django_user_model.objects.get(pk=user.pk)  # fresh permission cache
        assert can_view_pii(user) is sees_pii, role
    analyst = django_user_model.objects.get(username="u-analyst")
    assert analyst.has_perm("customers.view_customer")
    assert not analyst.has_perm("customers.add_customer")


def test_role_changes_are_audited(django_user_model):
    user = django_user_model.objects.create_user("someone")
    user.groups.add(Group.objects.get(name="operator"))
    user.groups.remove(Group.objects.get(name="operator"))
    entries = list(AuditLog.objects.filter(action="role_change").order_by("id"))
    assert [e.details["action"] for e in entries] == ["post_add", "post_remove"]
    assert "someone" in entries[0].summary and "operator" in entries[0].summary


@pytest.mark.parametrize(
    "phone,masked",
    [
        ("+8613812345678", "138****5678"),
        ("13812345678", "138****5678"),
        ("", ""),
        ("+12025550123", "120****0123"),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


def test_mask_email():
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("") == ""


def test_healthz_reports_a_broken_broker(client, settings, monkeypatch):
    from config import health

    def broken():
        raise ConnectionError("broker down")

    monkeypatch.setattr(health, "_check_broker", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error: ConnectionError")
    assert response.json()["checks"]["database"] == "ok"


def test_production_settings_pass_check_deploy(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "false",
        "SECURE_HTTPS": "true",
        "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "quanyu.example.com",
        "QUANYU_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout

import uuid

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from channels.services import channel_account_create


@pytest.fixture
def channels(db):
    """The demo brand's accounts, one per platform the done-means scenario crosses."""
    specs = [
        ("wechat_oa", "oa", "品牌公众号"),
        ("wecom", "wecom", "品牌企业微信"),
        ("wechat_mini", "mini", "品牌小程序"),
        ("tmall", "tmall", "天猫旗舰店"),
        ("app", "app", "品牌 App"),
        ("douyin", "douyin", "抖音号"),
    ]
    return {
        code: channel_account_create(kind=kind, code=code, name=name) for kind, code, name in specs
    }


def make_user(django_user_model, username: str, role: str | None = None, **extra):
    user = django_user_model.objects.create_user(
        username=username, password="pw-" + username, **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db, django_user_model):
    return make_user(django_user_model, "operator1", "operator")


@pytest.fixture
def analyst(db, django_user_model):
    return make_user(django_user_model, "analyst1", "analyst")


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def analyst_api(analyst):
    client = APIClient()
    client.force_authenticate(analyst)
    return client


@pytest.fixture(autouse=True)
def _celery_eager(settings):
    """Unit tests run tasks inline; tests/workers run them on a real worker instead."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def resolve(*identities, name: str = "", city: str = ""):
    """A customer made the way the API makes one: from (kind, value, scope) identities."""
    from customers.identities import normalize_identity
    from customers.services import customer_resolve

    keys = [normalize_identity(kind, value, scope) for kind, value, scope in identities]
    return customer_resolve(identities=keys, profile={"name": name, "city": city}).customer


@pytest.fixture(scope="session")
def sandbox_server():
    """The sandbox platform (a real HTTP server), one per test process."""
    from channels.sandbox.server import SandboxServer

    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server, settings):
    """A clean sandbox platform; retries back off by milliseconds."""
    from channels.sandbox.client import SandboxControl

    settings.CHANNEL_RETRY_DELAY = 0.001
    control = SandboxControl(sandbox_server.url)
    control.reset()
    return control


def sms_account(base_url: str):
    """An SMS account on the sandbox provider (its own app id: the sandbox log's filter)."""
    from channels.services import channel_account_create

    return channel_account_create(
        kind="sms", code=f"sms-{uuid.uuid4().hex[:6]}", name="短信", app_id=uuid.uuid4().hex,
        sandbox=True, api_base_url=base_url, rate_limit=100_000, options={"provider": "sandbox"},
    )  # fmt: skip

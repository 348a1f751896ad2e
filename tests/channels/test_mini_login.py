"""The Mini Program login endpoint: wx.login() code → session → the customer, against the
sandbox platform; unionid links the Mini Program user to the same person on the OA."""

import pytest

from customers.models import Customer, Identity
from tests.conftest import resolve

pytest_plugins = ["tests.channels.test_adapters"]
pytestmark = pytest.mark.django_db


def test_a_login_code_becomes_the_customer_linked_by_unionid(api, account):
    mini = account("wechat_mini", "mini-login")
    url = "/api/v1/mini-program/login"
    first = api.post(url, {"channel": "mini-login", "code": "user-3"}, format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["openid"] and body["created"] is True and "session_key" not in body
    customer = Customer.objects.get(pk=body["customer_id"])
    assert Identity.objects.filter(customer=customer, kind="wechat_openid", scope=mini.code,
                                   value=body["openid"]).exists()  # fmt: skip

    used = api.post(url, {"channel": "mini-login", "code": "user-3"}, format="json")
    assert used.status_code == 400 and "code" in used.json()  # a code works once
    again = api.post(url, {"channel": "mini-login", "code": "user-3-x"}, format="json")
    assert again.status_code == 200 and again.json()["customer_id"] == customer.pk

    if body["unionid"]:  # the same person, already known from the OA, is one customer
        follower = resolve(("wechat_unionid", "u-other", ""), name="公众号粉丝")
        Identity.objects.filter(customer=customer, kind="wechat_unionid").update(customer=follower)
        linked = api.post(url, {"channel": "mini-login", "code": "user-3-y"}, format="json")
        assert linked.json()["customer_id"] in (follower.pk, customer.pk)
        assert Customer.objects.filter(pk__in=[follower.pk, customer.pk]).count() == 1


@pytest.mark.parametrize(
    "payload, field",
    [({"channel": "mini-login"}, "code"), ({"code": "user-1"}, "channel"),
     ({"channel": "mini-login", "code": "x" * 200}, "code"),
     ({"channel": "nope", "code": "user-1"}, "channel")],
)  # fmt: skip
def test_bad_logins_are_400(api, account, payload, field):
    account("wechat_mini", "mini-login")
    response = api.post("/api/v1/mini-program/login", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Customer.objects.exists()


def test_only_mini_program_accounts_log_in(api, account, analyst_api):
    account("wechat_oa", "oa-login")
    wrong = api.post("/api/v1/mini-program/login", {"channel": "oa-login", "code": "user-1"},
                     format="json")  # fmt: skip
    assert wrong.status_code == 400 and "channel" in wrong.json()
    denied = analyst_api.post("/api/v1/mini-program/login", {"channel": "oa-login", "code": "x"},
                              format="json")  # fmt: skip
    assert denied.status_code == 403

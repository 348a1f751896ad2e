"""The channel-accounts API: secrets are write-only and encrypted at rest, the WeChat kinds
need their callback token and AES key, and every account says where its callbacks go."""

import pytest
from django.db import connection

from channels.models import ChannelAccount

pytestmark = pytest.mark.django_db

URL = "/api/v1/channel-accounts/"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat makes them
WECOM = {"kind": "wecom", "code": "wecom-sh", "name": "上海企业微信", "app_id": "ww-corp",
         "secret": "corp-secret-123456", "token": "cb-token-9876", "aes_key": AES_KEY,
         "sandbox": True}  # fmt: skip
SECRETS = ("secret", "token", "aes_key")


def raw_columns(pk: int) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret, token, aes_key FROM channels_channelaccount WHERE id = %s", [pk]
        )
        return cursor.fetchone()


def test_create_keeps_secrets_write_only_and_encrypted(api, settings):
    settings.PUBLIC_URL = "https://crm.example.com/"
    response = api.post(URL, WECOM, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert not set(SECRETS) & set(body)
    assert body["secret_set"] and body["token_set"] and body["aes_key_set"]
    assert body["callback_url"] == "https://crm.example.com/channels/callback/wecom-sh/"
    assert "corp-secret-123456" not in response.content.decode()

    stored = raw_columns(body["id"])
    for plain, raw in zip((WECOM[s] for s in SECRETS), stored, strict=True):
        assert plain not in raw and raw.startswith("fernet:")
    account = ChannelAccount.objects.get(pk=body["id"])
    assert (account.secret, account.token, account.aes_key) == tuple(WECOM[s] for s in SECRETS)

    listed = api.get(URL).json()["results"][0]
    detail = api.get(f"{URL}{body['id']}/").json()
    for shown in (listed, detail):
        assert not set(SECRETS) & set(shown) and shown["callback_url"] == body["callback_url"]


@pytest.mark.parametrize("kind", ["wechat_oa", "wecom", "wechat_mini"])
def test_wechat_kinds_need_token_and_aes_key(api, kind):
    response = api.post(URL, {"kind": kind, "code": "acct", "name": "x", "secret": "s"},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert {"token", "aes_key"} <= set(response.json())
    assert not ChannelAccount.objects.exists()


def test_other_kinds_need_no_callback_secrets(api):
    response = api.post(URL, {"kind": "tmall", "code": "tmall", "name": "天猫"}, format="json")
    assert response.status_code == 201
    assert response.json()["secret_set"] is False and response.json()["token_set"] is False


@pytest.mark.parametrize(
    "change, field",
    [
        ({"aes_key": "too-short"}, "aes_key"),
        ({"options": ["agent_id"]}, "options"),
        ({"code": "Bad Code"}, "code"),
        ({"kind": "fax"}, "kind"),
        ({"rate_limit": -1}, "rate_limit"),
        ({"api_base_url": "not a url"}, "api_base_url"),
    ],
)
def test_invalid_input_is_a_400_with_field_errors(api, change, field):
    response = api.post(URL, {**WECOM, **change}, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not ChannelAccount.objects.exists()


def test_update_keeps_empty_secrets_and_replaces_given_ones(api):
    pk = api.post(URL, WECOM, format="json").json()["id"]
    kept = api.patch(f"{URL}{pk}/", {"name": "华东企业微信", "secret": "", "token": ""},
                     format="json")  # fmt: skip
    assert kept.status_code == 200 and kept.json()["name"] == "华东企业微信"
    account = ChannelAccount.objects.get(pk=pk)
    assert account.secret == WECOM["secret"] and account.token == WECOM["token"]

    changed = api.patch(f"{URL}{pk}/", {"secret": "rotated-secret-42"}, format="json")
    assert changed.status_code == 200 and "rotated-secret-42" not in changed.content.decode()
    assert ChannelAccount.objects.get(pk=pk).secret == "rotated-secret-42"
    assert "rotated-secret-42" not in raw_columns(pk)[0]

    replaced = api.put(f"{URL}{pk}/", {**WECOM, "secret": "", "name": "企业微信", "sandbox": False},
                       format="json")  # fmt: skip
    assert replaced.status_code == 200 and replaced.json()["sandbox"] is False
    assert ChannelAccount.objects.get(pk=pk).secret == "rotated-secret-42"


def test_update_refuses_a_new_code_and_bad_input(api):
    pk = api.post(URL, WECOM, format="json").json()["id"]
    renamed = api.patch(f"{URL}{pk}/", {"code": "wecom-bj"}, format="json")
    assert renamed.status_code == 400 and "code" in renamed.json()
    bad = api.patch(f"{URL}{pk}/", {"aes_key": "short", "name": "改名"}, format="json")
    assert bad.status_code == 400 and "aes_key" in bad.json()
    account = ChannelAccount.objects.get(pk=pk)
    assert (account.code, account.name, account.aes_key) == ("wecom-sh", "上海企业微信", AES_KEY)


def test_an_old_wechat_account_without_callback_secrets_must_add_them(api, channels):
    oa = channels["oa"]
    response = api.patch(f"{URL}{oa.pk}/", {"name": "品牌服务号"}, format="json")
    assert response.status_code == 400 and {"token", "aes_key"} <= set(response.json())
    fixed = api.patch(f"{URL}{oa.pk}/", {"token": "t0ken", "aes_key": AES_KEY}, format="json")
    assert fixed.status_code == 200 and fixed.json()["aes_key_set"] is True


def test_analyst_reads_but_cannot_write(api, analyst_api):
    pk = api.post(URL, WECOM, format="json").json()["id"]
    shown = analyst_api.get(f"{URL}{pk}/")
    assert shown.status_code == 200 and not set(SECRETS) & set(shown.json())
    assert analyst_api.patch(f"{URL}{pk}/", {"name": "x"}, format="json").status_code == 403
    assert analyst_api.post(URL, {**WECOM, "code": "other"}, format="json").status_code == 403
    assert ChannelAccount.objects.get(pk=pk).name == "上海企业微信"

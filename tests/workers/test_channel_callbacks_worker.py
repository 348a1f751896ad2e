"""End to end with a real Celery worker on the configured broker, against the sandbox
platform: a sandbox user adds staff through a live code, a sandbox user follows the OA through
a QR scene; the callbacks reach the live server, a worker processes them."""

import pytest

from channels.choices import CallbackStatus, SyncStatus
from channels.livecodes import live_code_create
from channels.models import CallbackLog, CodeHit
from channels.qrcodes import qr_code_create
from channels.sandbox.client import SandboxControl
from channels.sandbox.server import SandboxServer
from channels.services import channel_account_create
from channels.syncs import account_sync
from customers.models import Customer, Identity
from tags.services import tag_create
from tests.channels.test_callbacks import AES_KEY, TOKEN
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def platform():
    with SandboxServer(port=0) as server:
        yield server, SandboxControl(server.url)


def sandbox_account(platform, live_server, *, kind, code, appid, **tenant):
    server, control = platform
    account = channel_account_create(
        kind=kind, code=code, name=code, app_id=appid, secret=f"{appid}-secret", token=TOKEN,
        aes_key=AES_KEY, sandbox=True, api_base_url=server.url, options={"agent_id": "1000002"},
    )  # fmt: skip
    control.tenant(
        appid, kind=kind, secret=f"{appid}-secret", token=TOKEN, aes_key=AES_KEY,
        callback_url=live_server.url + account.callback_path, **tenant,
    )  # fmt: skip
    return account


def processed(account) -> bool:
    logs = list(CallbackLog.objects.filter(account=account).values_list("status", flat=True))
    return bool(logs) and all(s == CallbackStatus.PROCESSED for s in logs)


def test_a_live_code_add_is_tagged_assigned_and_welcomed_by_the_worker(
    celery_worker_process, live_server, platform
):
    control = platform[1]
    wecom = sandbox_account(platform, live_server, kind="wecom", code="wecom-w", appid="ww-w",
                            staff=2, contacts=0, agent_id="1000002")  # fmt: skip
    assert account_sync(account=wecom, kind="staff").status == SyncStatus.SUCCEEDED
    member = wecom.staff.order_by("userid").first()
    vip = tag_create(name="门店活码客户")
    code = live_code_create(account=wecom, name="门店活码", staff=[(member, None, False)],
                            tags=[vip], welcome_text="{{ name }}，欢迎！")  # fmt: skip

    answer = control.simulate("ww-w", "add_external_contact", state=code.state)
    assert answer["status"] == 200 and answer["userid"] == member.userid
    wait_for(lambda: processed(wecom), timeout=60)
    identity = Identity.objects.get(kind="wecom_external_userid", value=answer["external_userid"])
    customer = identity.customer
    assert Customer.objects.count() == 1
    assert list(customer.customer_tags.values_list("tag__name", flat=True)) == ["门店活码客户"]
    assert CodeHit.objects.get(live_code=code).staff == member
    [welcome] = control.messages(appid="ww-w", kind="welcome")
    assert welcome["to"] == answer["external_userid"]
    assert welcome["content"]["text"]["content"] == f"{customer.name}，欢迎！"


def test_an_oa_follow_through_a_qr_scene_is_replied_to_and_tagged(
    celery_worker_process, live_server, platform
):
    control = platform[1]
    oa = sandbox_account(platform, live_server, kind="wechat_oa", code="oa-w", appid="wx-w",
                         followers=5)  # fmt: skip
    tea = tag_create(name="地推扫码")
    qr = qr_code_create(account=oa, name="南京西路地推", scene="store-nj", permanent=True,
                        tags=[tea], reply_text="欢迎关注茶小满！回复 1 领新人券")  # fmt: skip

    answer = control.simulate("wx-w", "subscribe", scene="store-nj")
    assert answer["status"] == 200
    assert "欢迎关注茶小满" in answer["reply"]  # the passive reply, answered at once
    wait_for(lambda: processed(oa), timeout=60)
    customer = Identity.objects.get(kind="wechat_openid", value=answer["openid"]).customer
    assert list(customer.customer_tags.values_list("tag__name", flat=True)) == ["地推扫码"]
    assert customer.events.filter(name="subscribe").count() == 1
    assert CodeHit.objects.filter(qr_code=qr).count() == 1

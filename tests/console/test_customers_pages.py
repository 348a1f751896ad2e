"""Customer console pages: list + filters, CSV export, the 360° profile, CSV import."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from common.models import AuditLog
from customers.ingest import events_ingest
from customers.models import Customer, ImportJob
from customers.services import customer_merge
from tags.services import customer_tags_change
from tests.conftest import resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(channels):
    """Three customers: one on OA + Tmall tagged 绿茶, one on the app tagged 绿茶, one bare."""
    wang = resolve(
        ("wechat_openid", "o-wang", "oa"),
        ("platform_buyer_id", "tb-wang", "tmall"),
        ("phone", "13812345678", ""),
        name="王小明",
        city="上海",
    )
    li = resolve(("app_user_id", "app-li", "app"), ("phone", "13900001111", ""), name="李娜")
    zhao = resolve(("member_no", "M-3", ""), name="赵雷")
    customer_tags_change(customer=wang, add=["绿茶", "VIP"])
    customer_tags_change(customer=li, add=["绿茶"])
    events_ingest(
        rows=[
            {
                "event_id": f"e{i}",
                "name": name,
                "occurred_at": f"2026-10-0{i + 1}T10:00:00+08:00",
                "channel": channel,
                "identities": [{"kind": "phone", "value": "13812345678"}],
                "properties": {"sku": "T-1"},
            }
            for i, (name, channel) in enumerate([("subscribe", "oa"), ("order_paid", "tmall")])
        ]
    )
    return {"wang": wang, "li": li, "zhao": zhao}


def test_list_requires_login(client):
    response = client.get("/customers/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_list_filters_by_tag_and_channel(client, operator, people):
    client.force_login(operator)
    everyone = client.get("/customers/")
    assert everyone.status_code == 200
    assert {"王小明", "李娜", "赵雷"} <= {c.name for c in everyone.context["customers"]}

    tagged = client.get("/customers/", {"tag": "绿茶"})
    assert {c.name for c in tagged.context["customers"]} == {"王小明", "李娜"}
    both = client.get("/customers/", {"tag": "绿茶", "channel": "tmall"})
    assert [c.name for c in both.context["customers"]] == ["王小明"]

    partial = client.get("/customers/", {"channel": "app"}, HTTP_HX_REQUEST="true")
    assert partial.templates[0].name == "customers/_customer_table.html"
    assert "李娜" in partial.content.decode() and "王小明" not in partial.content.decode()


def test_list_bad_filter_is_a_message_not_a_500(client, operator, people):
    client.force_login(operator)
    response = client.get("/customers/", {"created_after": "yesterday", "lifecycle": "zzz"})
    assert response.status_code == 200
    assert list(response.context["customers"]) == []
    assert "filter-errors" in response.content.decode()


def test_list_is_paginated_and_out_of_range_pages_fall_back(client, operator, people):
    client.force_login(operator)
    page = client.get("/customers/", {"page_size": "2", "page": "99"})
    assert page.status_code == 200
    assert page.context["page_obj"].number == 2 and len(page.context["customers"]) == 1


def test_analyst_sees_masked_phones_in_list_profile_and_export(client, analyst, people):
    client.force_login(analyst)
    listing = client.get("/customers/").content.decode()
    assert "138****5678" in listing and "13812345678" not in listing
    profile = client.get(f"/customers/{people['wang'].pk}/").content.decode()
    assert "138****5678" in profile and "13812345678" not in profile
    export = b"".join(client.get("/customers/export.csv").streaming_content).decode("utf-8-sig")
    assert "138****5678" in export and "13812345678" not in export


def test_export_follows_filters_and_is_audited(client, operator, people):
    client.force_login(operator)
    response = client.get("/customers/export.csv", {"tag": "绿茶"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 3  # header + two tagged customers
    assert {row[1] for row in rows[1:]} == {"王小明", "李娜"}
    assert "13812345678" in {row[3] for row in rows[1:]}  # operators have view_pii
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor == operator and entry.details["rows"] == 2
    assert entry.details["filters"] == {"tag": "绿茶"}


def test_profile_shows_identities_tags_timeline_and_orders(client, operator, people):
    client.force_login(operator)
    wang = people["wang"]
    response = client.get(f"/customers/{wang.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    for text in (
        "王小明",
        "o-wang",
        "tb-wang",
        "绿茶",
        "VIP",
        "subscribe",
        "order_paid",
        "支付订单",
    ):
        assert text in body, text
    assert "13812345678" in body
    only_oa = client.get(f"/customers/{wang.pk}/", {"channel": "oa"}, HTTP_HX_REQUEST="true")
    assert "subscribe" in only_oa.content.decode()
    assert "order_paid" not in only_oa.content.decode()


def test_profile_of_a_merged_customer_redirects_to_the_survivor(client, operator, people):
    client.force_login(operator)
    customer_merge(survivor_id=people["wang"].pk, other_ids=[people["zhao"].pk])
    response = client.get(f"/customers/{people['zhao'].pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{people['wang'].pk}/"
    assert client.get("/customers/999999/").status_code == 404


def test_import_runs_and_reports_bad_rows(
    client, operator, channels, django_capture_on_commit_callbacks
):
    client.force_login(operator)
    content = (
        "name,phone,city,tags\n张三,13811112222,北京,VIP\n李四,12,上海,\n王五,13833334444,,\n"
    ).encode()
    upload = SimpleUploadedFile("people.csv", content, content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/customers/imports/", {"kind": "customers", "file": upload, "strict": ""}
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/customers/imports/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.imported_rows, job.error_rows) == ("done", 2, 1)

    progress = client.get(f"/customers/imports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert 'data-status="done"' in progress.content.decode()
    assert "hx-trigger" not in progress.content.decode()  # finished: no more polling
    report = client.get(f"/customers/imports/{job.pk}/errors.csv").content.decode("utf-8-sig")
    assert report.splitlines()[0] == "row,field,error"
    assert report.splitlines()[1].startswith("3,phone,")


def test_import_rejects_a_bad_file_with_a_form_error(client, operator, channels):
    client.force_login(operator)
    upload = SimpleUploadedFile("x.csv", b"colour,size\nred,1\n", content_type="text/csv")
    response = client.post("/customers/imports/", {"kind": "customers", "file": upload})
    assert response.status_code == 400
    assert "import-error" in response.content.decode()
    assert not ImportJob.objects.exists()
    not_csv = SimpleUploadedFile("x.xlsx", b"PK\x03\x04", content_type="application/zip")
    response = client.post("/customers/imports/", {"kind": "customers", "file": not_csv})
    assert response.status_code == 400 and not ImportJob.objects.exists()


def test_analyst_cannot_import(client, analyst):
    client.force_login(analyst)
    assert client.get("/customers/imports/").status_code == 403
    assert client.get("/customers/imports/template/customers.csv").status_code == 200


def test_timeline_pages_through_older_events(client, operator, channels):
    rows = [
        {
            "event_id": f"pv-{n}",
            "name": "page_view",
            "occurred_at": f"2026-10-01T10:{n:02d}:00+08:00",
            "channel": "app",
            "identities": [{"kind": "app_user_id", "value": "a-1", "scope": "app"}],
            "properties": {"n": n},
        }
        for n in range(45)
    ]
    events_ingest(rows=rows)
    customer = Customer.objects.get()
    client.force_login(operator)
    first = client.get(f"/customers/{customer.pk}/")
    assert len(first.context["events"]) == 30 and first.context["next_offset"] == 30
    assert first.context["events"][0].properties == {"n": 44}  # newest first
    more = client.get(f"/customers/{customer.pk}/", {"offset": 30}, HTTP_HX_REQUEST="true")
    assert [e.properties["n"] for e in more.context["events"]] == list(range(14, -1, -1))
    assert more.context["next_offset"] is None
    assert 'data-testid="timeline-more"' not in more.content.decode()


def test_tag_and_untag_from_the_profile(client, operator, analyst, people):
    from tags.models import CustomerTag

    wang = people["wang"]
    client.force_login(operator)
    url = f"/tags/customers/{wang.pk}/"
    added = client.post(url, {"add": "新客礼包"}, HTTP_HX_REQUEST="true")
    assert added.status_code == 200 and "新客礼包" in added.content.decode()
    tag = CustomerTag.objects.get(customer=wang, tag__name="新客礼包")
    assert (tag.source, tag.added_by) == ("manual", operator)
    removed = client.post(url, {"remove": str(tag.tag_id)}, HTTP_HX_REQUEST="true")
    assert "新客礼包" not in removed.content.decode().split("tag-input")[0]
    assert not CustomerTag.objects.filter(customer=wang, tag__name="新客礼包").exists()
    unknown = client.post(url, {"remove": "没有这个标签"}, HTTP_HX_REQUEST="true")
    assert 'data-testid="tag-error"' in unknown.content.decode()
    client.force_login(analyst)
    assert client.post(url, {"add": "x"}).status_code == 403

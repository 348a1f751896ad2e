"""Saved audiences: dynamic and snapshot, size history, the API, the nightly refresh."""

import pytest

from customers.identities import normalize_identity
from customers.services import customer_merge, customer_resolve
from tags.models import Audience, AudienceMember, AudienceSize
from tags.services import customer_tags_change
from tags.tasks import audiences_refresh_task

pytestmark = pytest.mark.django_db
GREEN_TEA = {"tag": "绿茶"}


def person(phone: str, *tags: str):
    customer = customer_resolve(identities=[normalize_identity("phone", phone)]).customer
    if tags:
        customer_tags_change(customer=customer, add=list(tags))
    return customer


def test_create_dynamic_and_snapshot_audiences(api):
    first = person("13800000001", "绿茶")
    person("13800000002", "红茶")
    dynamic = api.post(
        "/api/v1/audiences/", {"name": "绿茶爱好者", "definition": GREEN_TEA}, format="json"
    )
    assert dynamic.status_code == 201, dynamic.json()
    assert dynamic.json()["size"] == 1 and dynamic.json()["kind"] == "dynamic"
    snapshot = api.post(
        "/api/v1/audiences/",
        {"name": "绿茶快照", "definition": GREEN_TEA, "kind": "snapshot"},
        format="json",
    ).json()
    frozen = Audience.objects.get(pk=snapshot["id"])
    assert list(frozen.members.values_list("customer_id", flat=True)) == [first.pk]

    late = person("13800000003", "绿茶")  # joins after the snapshot was taken
    assert not frozen.members.filter(customer=late).exists()
    refreshed = api.post(f"/api/v1/audiences/{frozen.pk}/refresh/").json()
    assert refreshed["size"] == 2
    assert set(frozen.members.values_list("customer_id", flat=True)) == {first.pk, late.pk}
    assert list(frozen.sizes.order_by("measured_at").values_list("size", flat=True)) == [1, 2]


def test_bad_definitions_and_names_are_400(api):
    person("13800000001", "绿茶")
    bad = api.post(
        "/api/v1/audiences/",
        {"name": "坏规则", "definition": {"all": [{"event": "x", "within": "soon"}]}},
        format="json",
    )
    assert bad.status_code == 400
    assert "all[0].within" in " ".join(bad.json()["definition"])
    api.post("/api/v1/audiences/", {"name": "A", "definition": GREEN_TEA}, format="json")
    again = api.post("/api/v1/audiences/", {"name": "A", "definition": GREEN_TEA}, format="json")
    assert again.status_code == 400 and "name" in again.json()
    assert Audience.objects.count() == 1


def test_update_remeasures(api):
    person("13800000001", "绿茶")
    person("13800000002", "红茶")
    created = api.post("/api/v1/audiences/", {"name": "A", "definition": GREEN_TEA}, format="json")
    url = f"/api/v1/audiences/{created.json()['id']}/"
    changed = api.patch(url, {"definition": {"tag": {"any": ["绿茶", "红茶"]}}}, format="json")
    assert changed.status_code == 200 and changed.json()["size"] == 2
    assert changed.json()["name"] == "A"


def test_analyst_reads_but_cannot_write(analyst_api, api):
    api.post("/api/v1/audiences/", {"name": "A", "definition": GREEN_TEA}, format="json")
    assert analyst_api.get("/api/v1/audiences/").status_code == 200
    response = analyst_api.post(
        "/api/v1/audiences/", {"name": "B", "definition": GREEN_TEA}, format="json"
    )
    assert response.status_code == 403


def test_nightly_refresh_and_merges_keep_membership(api):
    a = person("13800000001", "绿茶")
    b = person("13800000002", "绿茶")
    api.post(
        "/api/v1/audiences/",
        {"name": "S", "definition": GREEN_TEA, "kind": "snapshot"},
        format="json",
    )
    customer_merge(survivor_id=a.pk, other_ids=[b.pk])  # both were members: one row stays
    assert list(AudienceMember.objects.values_list("customer_id", flat=True)) == [a.pk]
    person("13800000003", "绿茶")
    assert audiences_refresh_task() == 1
    assert AudienceMember.objects.count() == 2
    assert AudienceSize.objects.count() == 2


def test_members_and_csv_export(api, analyst_api):
    from common.models import AuditLog

    a = person("13800000001", "绿茶")
    person("13800000002", "红茶")
    created = api.post(
        "/api/v1/audiences/",
        {"name": "S", "definition": GREEN_TEA, "kind": "snapshot"},
        format="json",
    ).json()
    members = api.get(f"/api/v1/audiences/{created['id']}/members/").json()
    assert members["count"] == 1 and members["results"][0]["id"] == a.pk
    response = analyst_api.get(f"/api/v1/audiences/{created['id']}/export/")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "138****0001" in text and "13800000001" not in text and "13800000002" not in text
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.details["filters"]["audience"] == created["id"] and entry.details["rows"] == 1

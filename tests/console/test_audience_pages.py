"""Console pages for audiences: list, create with a live count, detail with members."""

import json

import pytest

from customers.identities import normalize_identity
from customers.services import customer_resolve
from tags.models import Audience
from tags.services import customer_tags_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea_lovers(channels):
    for phone, tag in (("13800000001", "绿茶"), ("13800000002", "绿茶"), ("13800000003", "红茶")):
        customer = customer_resolve(identities=[normalize_identity("phone", phone)]).customer
        customer_tags_change(customer=customer, add=[tag])


def test_create_audience_and_open_it(client, operator, tea_lovers):
    client.force_login(operator)
    assert 'data-testid="empty-state"' in client.get("/tags/audiences/").content.decode()
    response = client.post(
        "/tags/audiences/new/",
        {"name": "绿茶爱好者", "kind": "snapshot", "definition": json.dumps({"tag": "绿茶"})},
    )
    audience = Audience.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tags/audiences/{audience.pk}/"
    detail = client.get(response["Location"])
    assert detail.context["page_obj"].paginator.count == 2
    assert "13800000001" in detail.content.decode()
    assert "绿茶爱好者" in client.get("/tags/audiences/").content.decode()


def test_bad_definition_is_a_form_error(client, operator, tea_lovers):
    client.force_login(operator)
    bad = {"name": "x", "kind": "dynamic", "definition": '{"event": "x", "within": "soon"}'}
    response = client.post("/tags/audiences/new/", bad)
    assert response.status_code == 400 and "within" in response.content.decode()
    broken = client.post("/tags/audiences/new/", {**bad, "definition": "{not json"})
    assert broken.status_code == 400
    assert not Audience.objects.exists()


def test_live_preview(client, operator, tea_lovers):
    client.force_login(operator)
    count = client.post("/tags/audiences/preview/", {"definition": '{"tag": "绿茶"}'})
    assert count.context["count"] == 2 and len(count.context["sample"]) == 2
    wrong = client.post("/tags/audiences/preview/", {"definition": '{"all": [{"tag": 1.5}]}'})
    assert wrong.context["count"] is None and "all[0].tag" in wrong.context["errors"]
    junk = client.post("/tags/audiences/preview/", {"definition": "{"})
    assert "$" in junk.context["errors"]


def test_analyst_sees_masked_members_and_cannot_create(client, operator, analyst, tea_lovers):
    client.force_login(operator)
    client.post(
        "/tags/audiences/new/", {"name": "A", "kind": "dynamic", "definition": '{"tag": "绿茶"}'}
    )
    client.force_login(analyst)
    audience = Audience.objects.get()
    page = client.get(f"/tags/audiences/{audience.pk}/").content.decode()
    assert "138****0001" in page and "13800000001" not in page
    denied = client.post(
        "/tags/audiences/new/", {"name": "B", "kind": "dynamic", "definition": "{}"}
    )
    assert denied.status_code == 403

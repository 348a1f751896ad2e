"""Django admin: every model of ours is registered, searchable, and its pages render."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

OUR_APPS = ("common", "customers", "tags", "channels", "campaigns", "reports")
SINGLETONS = {"customers.ScoringSettings", "customers.MembershipSettings",
              "campaigns.MessagingSettings"}  # fmt: skip


def our_models():
    return [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]


@pytest.mark.parametrize("model", our_models(), ids=lambda m: m._meta.label)
def test_model_is_in_admin_with_search(model):
    model_admin = admin.site._registry.get(model)
    assert model_admin is not None, f"{model._meta.label} has no admin"
    if model._meta.label not in SINGLETONS:
        assert model_admin.search_fields, f"{model._meta.label} admin has no search"


@pytest.mark.django_db
def test_admin_changelists_render_with_a_search(admin_client, channels):
    for model in our_models():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_client.get(url, {"q": "王"})
        assert response.status_code == 200, url

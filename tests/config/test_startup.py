"""`make run`'s start-up path on a fresh database: bootstrap, then the console has data."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from config.periodic import PERIODIC_TASKS
from customers.models import Customer, Event, MergeLog


@pytest.mark.django_db(transaction=True)
def test_bootstrap_then_console_renders_with_demo_data(client):
    out = StringIO()
    call_command("bootstrap", customers=150, stdout=out)
    call_command("bootstrap", customers=150, stdout=StringIO())  # idempotent
    assert "admin" in out.getvalue()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.groups.filter(name="admin").exists()
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= set(PERIODIC_TASKS)
    assert Customer.objects.count() >= 100 and Event.objects.exists() and MergeLog.objects.exists()

    assert client.login(username="admin", password="quanyu-admin")
    home = client.get("/")
    assert home.status_code == 200
    listing = client.get("/customers/")
    assert listing.status_code == 200
    newest = Customer.objects.order_by("-id").first()
    assert newest.name.encode() in listing.content
    customer = Customer.objects.filter(events__isnull=False).order_by("id").first()
    profile = client.get(f"/customers/{customer.pk}/")
    assert profile.status_code == 200
    assert customer.name.encode() in profile.content
    event = customer.events.first()
    assert event.name.encode() in profile.content

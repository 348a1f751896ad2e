"""CSV imports run by a real Celery worker on the real broker."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from channels.services import channel_account_create
from customers.choices import ImportStatus
from customers.imports import import_job_start
from customers.models import Customer, ImportJob

from .conftest import wait_for

pytestmark = pytest.mark.worker


def test_customer_import_runs_on_a_real_worker(celery_worker_process):
    channel_account_create(kind="app", code="app", name="App")
    csv_text = (
        "name,phone,app_user_id,scope,tags\n张三,13800000001,a1,app,VIP\n李四,13800000002,a2,app,\n"
    )
    job = import_job_start(
        kind="customers",
        uploaded_file=SimpleUploadedFile("c.csv", csv_text.encode()),
        strict=True,
        user=None,
    )
    done = wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).first(), timeout=90
    )
    assert done.imported_rows == 2 and done.error_rows == 0
    assert set(Customer.objects.values_list("name", flat=True)) == {"张三", "李四"}
    assert Customer.objects.get(name="张三").customer_tags.get().tag.name == "VIP"

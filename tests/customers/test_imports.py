import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from common.models import AuditLog
from customers.imports import import_errors_csv, import_job_start, import_template_csv
from customers.models import Customer, Event, ImportJob

pytestmark = pytest.mark.django_db


def start(kind, text, strict=True, capture=None):
    upload = SimpleUploadedFile("data.csv", text.encode("utf-8-sig"))
    with capture(execute=True):
        job = import_job_start(kind=kind, uploaded_file=upload, strict=strict, user=None)
    return ImportJob.objects.get(pk=job.pk)


CUSTOMERS = (
    "name,phone,app_user_id,scope,birthday,attributes,tags\n"
    '张三,13800000001,a1,app,1990-01-02,"{""vip"": 1}",VIP;绿茶\n'
    "李四,not-a-phone,a2,app,,,\n"
    "王五,13800000003,a3,app,1990-13-45,,\n"
    "赵六,13800000004,a4,app,,,\n"
)


def test_customer_import_strict_rejects_the_whole_batch(
    channels, django_capture_on_commit_callbacks
):
    job = start("customers", CUSTOMERS, capture=django_capture_on_commit_callbacks)
    assert job.status == "done" and job.total_rows == 4 and job.imported_rows == 0
    assert not Customer.objects.exists()
    report = import_errors_csv(job)
    assert "3,phone," in report and "4,profile," in report and "2,batch," in report


def test_customer_import_lenient_keeps_good_rows(channels, django_capture_on_commit_callbacks):
    job = start("customers", CUSTOMERS, strict=False, capture=django_capture_on_commit_callbacks)
    assert (job.imported_rows, job.error_rows) == (2, 2)
    zhang = Customer.objects.get(name="张三")
    assert zhang.attributes == {"vip": 1} and str(zhang.birthday) == "1990-01-02"
    assert sorted(zhang.customer_tags.values_list("tag__name", flat=True)) == ["VIP", "绿茶"]
    assert zhang.customer_tags.first().source == "import"
    assert AuditLog.objects.filter(action="import").count() == 2  # started + finished


def test_event_import_reports_rows_and_dedupes(channels, django_capture_on_commit_callbacks):
    text = (
        "event_id,name,occurred_at,channel,phone,properties\n"
        's1,store_visit,2026-05-01T10:00:00+08:00,app,13800000001,"{""store"": ""SH""}"\n'
        "s2,store_visit,not-a-time,app,13800000001,\n"
        "s3,,2026-05-01T10:00:00+08:00,app,13800000001,\n"
    )
    job = start("events", text, strict=False, capture=django_capture_on_commit_callbacks)
    assert (job.imported_rows, job.error_rows) == (1, 2)
    assert Event.objects.get().properties == {"store": "SH"}
    again = start("events", text, strict=False, capture=django_capture_on_commit_callbacks)
    assert Event.objects.count() == 1 and again.imported_rows == 1  # the duplicate counts as done
    strict = start("events", text, strict=True, capture=django_capture_on_commit_callbacks)
    assert strict.imported_rows == 0 and strict.error_rows == 3


@pytest.mark.parametrize(
    "kind,text,message",
    [
        ("customers", "", "表头"),
        ("customers", "name,shoe\nA,42\n", "shoe"),
        ("customers", "name,city\nA,B\n", "身份标识"),
        ("events", "name,phone\nx,1\n", "occurred_at"),
    ],
)
def test_bad_files_are_refused_before_queueing(channels, kind, text, message):
    with pytest.raises(ValidationError) as exc:
        import_job_start(
            kind=kind, uploaded_file=SimpleUploadedFile("f.csv", text.encode()), user=None
        )
    assert message in " ".join(exc.value.messages)
    assert not ImportJob.objects.exists()


def test_non_utf8_file_is_refused(channels):
    upload = SimpleUploadedFile("f.csv", "姓名,phone\n".encode("gbk"))
    with pytest.raises(ValidationError):
        import_job_start(kind="customers", uploaded_file=upload, user=None)


def test_templates_have_the_expected_columns():
    assert import_template_csv("customers").startswith("name,gender,city")
    assert import_template_csv("events").startswith("event_id,name,occurred_at,channel")

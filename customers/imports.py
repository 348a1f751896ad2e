"""CSV imports of customers and events from the console, run by a Celery task.

The file is read in batches. Each row is validated and turned into the same shape the API
takes; bad rows go into a row-level error report. Each batch is written in one transaction:
with `strict` a batch holding any bad row is not written at all, otherwise its good rows are.
"""

import csv
import io
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.audit import audit_record
from common.models import AuditLog
from customers.choices import IdentityKind, ImportKind, ImportStatus
from customers.ingest import events_ingest, events_validate, parse_identities
from customers.models import ImportJob
from customers.services import customer_resolve, profile_clean
from customers.signals import customer_imported

BATCH_SIZE = 500
MAX_FILE_BYTES = 50 * 1024 * 1024
PROFILE_COLUMNS = ("name", "gender", "city", "province", "birthday")
IDENTITY_COLUMNS = tuple(IdentityKind.values)

# Required and optional columns per kind. Identity columns are named after the identity kind;
# scoped kinds name their account in a `<kind>_scope` column (or `scope` for all of them).
COLUMNS = {
    ImportKind.CUSTOMERS: {
        "required": (),
        "optional": (*PROFILE_COLUMNS, *IDENTITY_COLUMNS, "scope", "attributes", "tags"),
    },
    ImportKind.EVENTS: {
        "required": ("name", "occurred_at", "channel"),
        "optional": ("event_id", "properties", *IDENTITY_COLUMNS, "scope"),
    },
}

TEMPLATES = {
    ImportKind.CUSTOMERS: [
        [
            "name",
            "gender",
            "city",
            "province",
            "birthday",
            "phone",
            "email",
            "wechat_unionid",
            "app_user_id",
            "scope",
            "attributes",
            "tags",
        ],
        [
            "张伟",
            "male",
            "上海",
            "上海",
            "1990-05-01",
            "13812345678",
            "zhang@example.com",
            "",
            "app-1001",
            "app",
            '{"vip_level": 2}',
            "VIP;绿茶",
        ],
    ],
    ImportKind.EVENTS: [
        [
            "event_id",
            "name",
            "occurred_at",
            "channel",
            "phone",
            "wechat_openid",
            "scope",
            "properties",
        ],
        [
            "e-1",
            "store_visit",
            "2026-05-01T10:00:00+08:00",
            "store-sh",
            "13812345678",
            "",
            "",
            '{"store": "上海南京西路店"}',
        ],
    ],
}


def import_template_csv(kind: str) -> str:
    """An example file for the kind, to download from the import page."""
    out = io.StringIO()
    csv.writer(out).writerows(TEMPLATES[kind])
    return out.getvalue()


def _read_header(raw: bytes) -> list[str]:
    text = raw.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    return [h.strip() for h in next(reader, [])]


def _check_header(kind: str, header: list[str]) -> None:
    spec = COLUMNS[kind]
    if not header or not any(header):
        raise ValidationError(_("文件为空或没有表头"))
    unknown = [
        h
        for h in header
        if h not in spec["required"] and h not in spec["optional"] and not h.endswith("_scope")
    ]
    missing = [c for c in spec["required"] if c not in header]
    problems = []
    if missing:
        problems.append(_("缺少必需的列：%(cols)s") % {"cols": ", ".join(missing)})
    if unknown:
        problems.append(_("无法识别的列：%(cols)s") % {"cols": ", ".join(unknown)})
    if not any(h in IDENTITY_COLUMNS for h in header):
        problems.append(_("至少需要一个身份标识列，例如 phone 或 wechat_unionid"))
    if problems:
        raise ValidationError(problems)


def import_job_start(*, kind: str, uploaded_file, strict: bool = True, user=None) -> ImportJob:
    """Check the file's header, store it and queue the import."""
    if kind not in ImportKind.values:
        raise ValidationError(_("未知的导入类型"))
    if uploaded_file.size > MAX_FILE_BYTES:
        raise ValidationError(_("文件过大（最大 50 MB）"))
    raw = uploaded_file.read()
    try:
        header = _read_header(raw)
    except UnicodeDecodeError:
        raise ValidationError(_("文件必须是 UTF-8 编码的 CSV"))
    except csv.Error as exc:
        raise ValidationError(_("无法解析 CSV：%(e)s") % {"e": exc})
    _check_header(kind, header)
    uploaded_file.seek(0)
    job = ImportJob(
        kind=kind, strict=strict, created_by=user, original_name=uploaded_file.name[:255]
    )
    job.file.save(uploaded_file.name, uploaded_file, save=False)
    job.save()
    audit_record(
        action=AuditLog.Action.IMPORT,
        summary=_("开始导入 %(name)s") % {"name": job.original_name},
        actor=user,
        obj=job,
    )
    from customers.tasks import import_job_run_task

    transaction.on_commit(lambda: import_job_run_task.delay(job.pk))
    return job


def _identities_from_row(row: dict) -> list[dict]:
    identities = []
    for kind in IDENTITY_COLUMNS:
        value = (row.get(kind) or "").strip()
        if value:
            scope = (row.get(f"{kind}_scope") or row.get("scope") or "").strip()
            identities.append({"kind": kind, "value": value, "scope": scope})
    return identities


def _identity_cells(row: dict, errors: dict, scopes: set[str]) -> list:
    """The row's identities; a bad one is reported under its own column (phone, email…)."""
    identities = _identities_from_row(row)
    if not identities:
        errors["identities"] = [_("至少需要一个身份标识列有值，例如 phone 或 wechat_unionid")]
        return []
    keys = []
    for identity in identities:
        problems: dict = {}
        keys += parse_identities([identity], problems, scopes)
        if problems:
            errors[identity["kind"]] = [m.removeprefix("[0] ") for m in problems["identities"]]
    return keys


def _json_cell(row: dict, name: str, errors: dict, default):
    text = (row.get(name) or "").strip()
    if not text:
        return default
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        errors[name] = [_("不是合法的 JSON")]
        return default
    if not isinstance(value, type(default)):
        errors[name] = [_("必须是 JSON 对象")]
        return default
    return value


def _profile_cells(row: dict, errors: dict) -> dict:
    try:
        return profile_clean({c: (row.get(c) or "").strip() for c in PROFILE_COLUMNS})
    except ValidationError as exc:
        errors.update(exc.message_dict)
        return {}


def _customer_row(row: dict, scopes: set[str]) -> tuple[dict, dict]:
    errors: dict = {}
    keys = _identity_cells(row, errors, scopes)
    clean = {
        "keys": keys,
        "profile": _profile_cells(row, errors),
        "attributes": _json_cell(row, "attributes", errors, {}),
        "tags": [
            t.strip() for t in (row.get("tags") or "").replace("；", ";").split(";") if t.strip()
        ],
    }
    return clean, errors


def _write_customers(rows: list[dict], job: ImportJob) -> list[dict]:
    """Upsert customers of one batch; returns errors found while writing (with row numbers)."""
    errors = []
    for line, clean in rows:
        try:
            with transaction.atomic():
                result = customer_resolve(
                    identities=clean["keys"],
                    profile=clean["profile"],
                    attributes=clean["attributes"],
                    actor_label=f"import:{job.pk}",
                )
                if clean["tags"]:  # the tags app listens and puts them on
                    customer_imported.send(
                        sender=ImportJob,
                        customer=result.customer,
                        tags=clean["tags"],
                        source_ref=f"import:{job.pk}",
                        actor=job.created_by,
                    )
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else {"row": exc.messages}
            errors.append({"row": line, "errors": detail})
    return errors


def _event_row(row: dict) -> dict:
    props_errors: dict = {}
    props = _json_cell(row, "properties", props_errors, {})
    return {
        "event_id": (row.get("event_id") or "").strip() or None,
        "name": (row.get("name") or "").strip(),
        "occurred_at": (row.get("occurred_at") or "").strip(),
        "channel": (row.get("channel") or "").strip(),
        "identities": _identities_from_row(row),
        "properties": props if not props_errors else "invalid",
    }


def _scopes() -> set[str]:
    from django.apps import apps

    return set(apps.get_model("channels", "ChannelAccount").objects.values_list("code", flat=True))


def _run_batch(job: ImportJob, batch: list[tuple[int, dict]], scopes: set[str]) -> tuple[int, list]:
    """Validate and write one batch; returns (rows written, row errors)."""
    if job.kind == ImportKind.EVENTS:
        rows = [_event_row(r) for _, r in batch]
        with transaction.atomic():
            if job.strict:  # validate without writing first
                _valid, bad = events_validate(rows)
                if bad:
                    return 0, _with_lines(bad, batch) + _rejected(batch, {e["index"] for e in bad})
            result = events_ingest(rows=rows, actor_label=f"import:{job.pk}")
        return result.accepted + result.duplicates, _with_lines(result.errors, batch)
    cleaned, errors = [], []
    for line, row in batch:
        clean, row_errors = _customer_row(row, scopes)
        if row_errors:
            errors.append({"row": line, "errors": row_errors})
        else:
            cleaned.append((line, clean))
    if errors and job.strict:
        return 0, errors + _rejected(batch, {e["row"] for e in errors}, by_line=True)
    with transaction.atomic():
        write_errors = _write_customers(cleaned, job)
        if write_errors and job.strict:
            transaction.set_rollback(True)
            return 0, write_errors + _rejected(
                batch, {e["row"] for e in write_errors}, by_line=True
            )
    return len(cleaned) - len(write_errors), errors + write_errors


def _with_lines(errors: list[dict], batch) -> list[dict]:
    return [{"row": batch[e["index"]][0], "errors": e["errors"]} for e in errors]


def _rejected(batch, bad, *, by_line: bool = False) -> list[dict]:
    """Rows not written only because another row of their batch failed (strict mode)."""
    note = {"batch": [_("同批次其他行有错误，本行未写入")]}
    return [
        {"row": line, "errors": note}
        for i, (line, _row) in enumerate(batch)
        if (line if by_line else i) not in bad
    ]


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run an import job to the end, batch by batch, saving progress after each batch."""
    job = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).first()
    if job is None:
        return None
    job.status = ImportStatus.RUNNING
    job.save(update_fields=["status"])
    try:
        with job.file.open("rb") as handle:
            text = handle.read().decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        rows = [(number, row) for number, row in enumerate(reader, start=2)]
        job.total_rows = len(rows)
        job.save(update_fields=["total_rows"])
        scopes = _scopes()
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            written, errors = _run_batch(job, batch, scopes)
            job.processed_rows += len(batch)
            job.imported_rows += written
            job.error_rows += len({e["row"] for e in errors})
            job.errors.extend(errors)
            job.save(update_fields=["processed_rows", "imported_rows", "error_rows", "errors"])
        job.status = ImportStatus.DONE
    except (UnicodeDecodeError, csv.Error) as exc:
        job.status, job.message = ImportStatus.FAILED, str(exc)[:500]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])
    if job.kind == ImportKind.EVENTS or job.imported_rows:
        from customers.scoring import customers_score

        customers_score()
    audit_record(
        action=AuditLog.Action.IMPORT,
        summary=_("导入 %(name)s 完成：成功 %(ok)s 行，失败 %(bad)s 行")
        % {"name": job.original_name, "ok": job.imported_rows, "bad": job.error_rows},
        actor=job.created_by,
        obj=job,
    )
    return job


def import_errors_csv(job: ImportJob) -> str:
    """The row-level error report: row number, field, message."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "error"])
    for entry in sorted(job.errors, key=lambda e: e["row"]):
        for field, messages in entry["errors"].items():
            for message in messages if isinstance(messages, list) else [messages]:
                writer.writerow([entry["row"], field, message])
    return out.getvalue()

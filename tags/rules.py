"""Auto-tag rules: an audience definition + a tag + a mode, run nightly (T+1) or on demand.

A run is set-wise: one INSERT … SELECT adds the tag to matching customers who lack it, and in
sync mode one DELETE takes it from customers this rule tagged who no longer match. Tags put on
by hand or by other sources are never removed by a rule.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tags.models import (
    CustomerTag,
    RuleMode,
    RuleSchedule,
    RunStatus,
    Tag,
    TagRule,
    TagRuleRun,
    TagSource,
)
from tags.services import _definition_clean, customers_insert_select


def rule_source_ref(rule: TagRule) -> str:
    return f"rule:{rule.pk}"


def tag_rule_save(
    *,
    name: str,
    tag: Tag,
    definition,
    mode: str = RuleMode.ADD_ONLY,
    schedule: str = RuleSchedule.NIGHTLY,
    enabled: bool = True,
    rule: TagRule | None = None,
    actor=None,
) -> TagRule:
    """Create or change a rule; the definition is validated like an audience's."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("名称不能为空")
    elif TagRule.objects.filter(name=name).exclude(pk=getattr(rule, "pk", None)).exists():
        errors["name"] = _("已有同名规则 %(n)s") % {"n": name}
    if mode not in RuleMode.values:
        errors["mode"] = _("未知的模式")
    if schedule not in RuleSchedule.values:
        errors["schedule"] = _("未知的执行方式")
    try:
        _definition_clean(definition)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    rule = rule or TagRule(created_by=actor)
    rule.name, rule.tag, rule.definition = name, tag, definition
    rule.mode, rule.schedule, rule.enabled = mode, schedule, enabled
    rule.save()
    return rule


def tag_rule_run(*, rule: TagRule, trigger: str = RuleSchedule.MANUAL, now=None) -> TagRuleRun:
    """Apply a rule now and record the run (failed runs keep their error, nothing half-done)."""
    from tags.dsl import DslError, audience_count, audience_queryset

    now = now or timezone.now()
    run = TagRuleRun.objects.create(rule=rule, trigger=trigger, status=RunStatus.RUNNING)
    try:
        with transaction.atomic():
            matched = audience_queryset(rule.definition, now=now).order_by()
            run.added = _tag_matching(rule, matched, now)
            if rule.mode == RuleMode.SYNC:
                run.removed, _by_model = (
                    CustomerTag.objects.filter(
                        tag=rule.tag, source=TagSource.RULE, source_ref=rule_source_ref(rule)
                    )
                    .exclude(customer__in=matched.values("pk"))
                    .delete()
                )
            run.matched = audience_count(rule.definition, now=now)
    except DslError as exc:
        run.status, run.error = RunStatus.FAILED, str(exc)
    else:
        run.status = RunStatus.DONE
    run.finished_at = timezone.now()
    run.save()
    TagRule.objects.filter(pk=rule.pk).update(last_run_at=run.finished_at)
    return run


def _tag_matching(rule: TagRule, matched, now) -> int:
    """One INSERT … SELECT: matching customers without the tag get it, source = this rule."""
    return customers_insert_select(
        model=CustomerTag,
        customers=matched,
        values={
            "tag_id": rule.tag_id,
            "source": TagSource.RULE.value,
            "source_ref": rule_source_ref(rule),
            "created_at": now,
        },
        unless={"tag_id": rule.tag_id},
    )


def tag_rules_run_nightly() -> list[TagRuleRun]:
    """Beat (T+1): every enabled nightly rule, one after the other."""
    rules = TagRule.objects.filter(enabled=True, schedule=RuleSchedule.NIGHTLY).select_related(
        "tag"
    )
    return [tag_rule_run(rule=rule, trigger=RuleSchedule.NIGHTLY) for rule in rules.order_by("pk")]

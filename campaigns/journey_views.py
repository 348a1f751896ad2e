"""Console: SOP journeys (the list, ready-made templates, the builder, a journey's funnel and
enrolments), the staff tasks they create, and real-time triggers."""

import json
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns.choices import (
    ActionKind,
    EnrolmentStatus,
    JourneyKind,
    JourneyStatus,
    JourneyTrigger,
    ReentryPolicy,
    StepKind,
    TaskStatus,
    TriggerStatus,
    WaitStatus,
)
from campaigns.delivery import SENDABLE_KINDS
from campaigns.journey_forms import JourneyForm, TriggerRuleForm
from campaigns.journey_templates import TEMPLATES, journey_from_template, template_missing
from campaigns.journeys import (
    journey_activate,
    journey_archive,
    journey_pause,
    journey_save,
    journey_stats,
    journey_steps_clean,
    journey_steps_data,
)
from campaigns.models import ContentItem, Journey, StaffTask, TriggerRule
from campaigns.triggers import trigger_rule_save, trigger_stats
from channels.models import ChannelAccount, LiveCode, Staff
from common.charts import figure
from common.forms import errors_to_form
from common.permissions import require_perms
from tags.models import Audience, Tag

PAGE_SIZE = 50
ENROLMENTS_PAGE = 50
STEP_KEY = re.compile(r"^steps\[(\d+)\](?:\.(.+))?$")
WEEKDAYS = [gettext_lazy("一"), gettext_lazy("二"), gettext_lazy("三"), gettext_lazy("四"),
            gettext_lazy("五"), gettext_lazy("六"), gettext_lazy("日")]  # fmt: skip
JOURNEY_ACTIONS = {
    "activate": (journey_activate, gettext_lazy("已启用旅程")),
    "pause": (journey_pause, gettext_lazy("已暂停旅程")),
    "archive": (journey_archive, gettext_lazy("已归档旅程")),
}


def _error_message(request, exc: ValidationError) -> None:
    messages.error(request, "；".join(exc.messages))


# --- words for what is configured ----------------------------------------------------------


def _name_of(model, pk) -> str:
    found = model.objects.filter(pk=pk).first() if pk else None
    return str(found) if found else _("（已删除）")


def trigger_words(journey: Journey) -> str:
    """The trigger as a sentence."""
    trigger, kind = journey.trigger or {}, journey.trigger_kind
    if kind == JourneyTrigger.FOLLOWED:
        if trigger.get("channel"):
            return _("关注公众号「%(n)s」") % {"n": _name_of(ChannelAccount, trigger["channel"])}
        return _("关注任一公众号")
    if kind == JourneyTrigger.LIVE_CODE:
        if trigger.get("live_code"):
            return _("通过活码「%(n)s」添加企业微信") % {
                "n": _name_of(LiveCode, trigger["live_code"])
            }
        return _("通过任一活码添加企业微信")
    if kind == JourneyTrigger.TAG_ADDED:
        return _("被打上标签「%(n)s」") % {"n": _name_of(Tag, trigger.get("tag"))}
    if kind == JourneyTrigger.ENTERED_AUDIENCE:
        return _("进入人群「%(n)s」") % {"n": _name_of(Audience, trigger.get("audience"))}
    if kind == JourneyTrigger.EVENT:
        words = _("发生事件 %(e)s") % {"e": trigger.get("event", "")}
        if trigger.get("channel"):
            words += _("（渠道：%(n)s）") % {"n": _name_of(ChannelAccount, trigger["channel"])}
        return words
    if kind == JourneyTrigger.BIRTHDAY:
        return _("生日前 %(n)s 天") % {"n": trigger.get("days_before", 0)}
    if kind == JourneyTrigger.GROUP_CHAT:
        words = _("企业微信「%(n)s」的 %(c)s 个选定客户群") % {
            "n": _name_of(ChannelAccount, trigger.get("channel")),
            "c": len(trigger.get("group_chats") or []),
        }
        if trigger.get("new_groups", True):
            words += _("，以及之后新建的群")
        return words
    return journey.get_trigger_kind_display()


def step_words(step) -> str:
    """One step's configuration in a few words."""
    config = step.config or {}
    if step.kind == StepKind.WAIT:
        mode = config.get("mode", "duration")
        if mode == "duration":
            parts = [
                _("%(n)s 天") % {"n": config["days"]} if config.get("days") else "",
                _("%(n)s 小时") % {"n": config["hours"]} if config.get("hours") else "",
                _("%(n)s 分钟") % {"n": config["minutes"]} if config.get("minutes") else "",
            ]
            return _("等待 %(d)s") % {"d": " ".join(p for p in parts if p)}
        if mode == "day_at":
            return _("等到进入后第 %(d)s 天 %(t)s") % {
                "d": config.get("day"), "t": config.get("time"),
            }  # fmt: skip
        days = "、".join(str(WEEKDAYS[d]) for d in config.get("weekdays", []) if 0 <= d < 7)
        return _("等到周%(w)s %(s)s–%(e)s") % {
            "w": days, "s": config.get("start"), "e": config.get("end"),
        }  # fmt: skip
    if step.kind == StepKind.CONDITION:
        no = config.get("no", "end")
        target = _("结束") if no == "end" else _("跳到第 %(n)s 步") % {"n": int(no) + 1}
        return _("满足条件继续，否则%(t)s") % {"t": target}
    action = config.get("action")
    label = ActionKind(action).label if action in ActionKind.values else str(action)
    if action in (ActionKind.SEND, ActionKind.GROUP_MESSAGE) and config.get("content"):
        words = f"{label}：{_name_of(ContentItem, config['content'])}"
        if config.get("channels"):
            accounts = ChannelAccount.objects.in_bulk(config["channels"])
            names = [accounts[i].name for i in config["channels"] if i in accounts]
            words += "（" + " → ".join(names) + "）"
        return words
    if action in (ActionKind.TAG_ADD, ActionKind.TAG_REMOVE):
        names = Tag.objects.filter(pk__in=config.get("tags", [])).values_list("name", flat=True)
        return f"{label}：{'、'.join(names)}"
    if action == ActionKind.POINTS:
        return f"{label}：{config.get('points')} {config.get('reason', '')}".strip()
    if action == ActionKind.STAFF_TASK:
        return _("%(l)s：%(t)s（%(h)s 小时内）") % {
            "l": label, "t": config.get("title", ""), "h": config.get("due_hours", 24),
        }  # fmt: skip
    if action == ActionKind.WEBHOOK:
        return f"{label}：{config.get('url', '')}"
    return label


# --- the list and the templates ------------------------------------------------------------


@login_required
@permission_required("campaigns.view_journey", raise_exception=True)
def journey_list(request):
    """Journeys with how many entered, are in them now and left by the goal."""
    journeys = Journey.objects.annotate(
        enrolled=Count("enrolments"),
        active_now=Count("enrolments", filter=Q(enrolments__status=EnrolmentStatus.ACTIVE)),
        goal_exits=Count("enrolments", filter=Q(enrolments__status=EnrolmentStatus.GOAL)),
    )
    status, search = request.GET.get("status", ""), request.GET.get("q", "").strip()
    if status in JourneyStatus.values:
        journeys = journeys.filter(status=status)
    if search:
        journeys = journeys.filter(Q(name__icontains=search) | Q(description__icontains=search))
    page = Paginator(journeys.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page_obj": page,
        "journeys": page.object_list,
        "status": status,
        "search": search,
        "statuses": JourneyStatus.choices,
        "filtered": bool(status or search),
        "tab": "journeys",
    }
    return render(request, "campaigns/journeys/list.html", context)


@login_required
@permission_required("campaigns.view_journey", raise_exception=True)
def journey_templates(request):
    """The ready-made journeys; "使用模板" makes a draft and opens it in the builder."""
    if request.method == "POST":
        require_perms(request, "campaigns.add_journey")
        try:
            journey = journey_from_template(key=request.POST.get("key", ""), user=request.user)
        except ValidationError as exc:
            _error_message(request, exc)
            return redirect("journeys:templates")
        messages.success(request, _("已按模板创建草稿，请检查后保存并启用"))
        return redirect("journeys:edit", pk=journey.pk)
    cards = [{"template": t, "missing": template_missing(t)} for t in TEMPLATES]
    return render(request, "campaigns/journeys/templates.html", {"cards": cards, "tab": "journeys"})


# --- the builder ---------------------------------------------------------------------------


def _builder_data(kind: str | None) -> dict:
    """What the steps editor offers: contents, channel accounts, tags, labels."""
    accounts = ChannelAccount.objects.filter(kind__in=SENDABLE_KINDS).order_by("kind", "code")
    return {
        "contents": [[c.pk, c.name] for c in ContentItem.objects.order_by("name")],
        "accounts": [[a.pk, a.name, a.get_kind_display(), a.code] for a in accounts],
        "tags": [
            [t.pk, f"{t.group.name} / {t.name}"]
            for t in Tag.objects.select_related("group").order_by("group__name", "name")
        ],
        "step_kinds": StepKind.choices,
        "actions": ActionKind.choices,
        "group_actions": [ActionKind.GROUP_MESSAGE, ActionKind.STAFF_TASK, ActionKind.WEBHOOK],
        "customer_actions": [
            ActionKind.SEND,
            ActionKind.TAG_ADD,
            ActionKind.TAG_REMOVE,
            ActionKind.POINTS,
            ActionKind.STAFF_TASK,
            ActionKind.WEBHOOK,
        ],  # fmt: skip
        "kind": kind or JourneyKind.CUSTOMER,
        "labels": _labels(),
    }


def _labels() -> dict:
    return {
        "action": _("动作"),
        "content": _("内容"),
        "channels": _("渠道（按优先顺序）"),
        "channels_help": _("勾选要使用的渠道，用箭头调整顺序：客户收到第一个能触达的渠道"),
        "tags": _("标签"),
        "multi_help": _("按住 Ctrl/⌘ 多选"),
        "points": _("积分"),
        "reason": _("原因"),
        "title": _("任务标题"),
        "body": _("话术"),
        "body_help": _("员工发给客户的话，可用 {{ name }} 等占位符"),
        "due_hours": _("完成时限（小时）"),
        "url": _("Webhook 地址"),
        "choose": _("请选择"),
        "none": _("没有可选项"),
        "up": _("上移"),
        "down": _("下移"),
        "remove": _("删除步骤"),
        "step_name": _("步骤名称（可选）"),
        "no_steps": _("还没有步骤：用下面的按钮添加等待、条件或动作"),
        "add_wait": _("添加等待"),
        "add_condition": _("添加条件"),
        "add_action": _("添加动作"),
        "wait_mode": _("等待方式"),
        "wait_modes": [
            ["duration", _("等待一段时间")],
            ["day_at", _("进入后第 N 天的某时")],
            ["window", _("等到星期/时段内")],
        ],
        "days": _("天"),
        "hours": _("小时"),
        "minutes": _("分钟"),
        "day": _("第 N 天"),
        "time": _("时间"),
        "day_help": _("从进入旅程那天算起，0 为当天；时间已过则立即继续"),
        "weekdays_label": _("星期"),
        "weekdays": [_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")],
        "start": _("开始"),
        "end": _("结束"),
        "condition": _("条件（人群 DSL）：满足则继续下一步"),
        "visual": _("可视化"),
        "loading": _("加载中…"),
        "no_branch": _("不满足时"),
        "no_end": _("结束旅程"),
        "no_goto": _("跳到第 %s 步"),
    }


def _split_errors(exc: ValidationError) -> tuple[dict, dict]:
    """(step errors {index: {field: message}}, the other errors {key: [messages]})."""
    steps: dict[int, dict[str, str]] = {}
    other: dict[str, list] = {}
    if not hasattr(exc, "error_dict"):
        return steps, {"__all__": exc.messages}
    for key, errors in exc.message_dict.items():
        match = STEP_KEY.match(key)
        if match:
            index, field = int(match.group(1)), match.group(2) or ""
            # a DSL path inside a condition is shown on its definition
            if field.startswith("definition"):
                sub, field = field[len("definition") :].lstrip("."), "definition"
                errors = [f"{sub}: {e}" if sub else e for e in errors]
            steps.setdefault(index, {})[field] = " ".join(errors)
        elif key.startswith("entry_filter") or key.startswith("condition"):
            base = "entry_filter" if key.startswith("entry_filter") else "condition"
            sub = key[len(base) :].lstrip(".")
            other.setdefault(base, []).extend(f"{sub}: {e}" if sub else e for e in errors)
        else:
            other.setdefault(key, []).extend(errors)
    return steps, other


def _step_error_list(step_errors: dict) -> list[str]:
    return [
        _("第 %(n)s 步：%(m)s") % {"n": index + 1, "m": message}
        for index, fields in sorted(step_errors.items())
        for message in fields.values()
    ]


@login_required
def journey_edit(request, pk: int | None = None):
    """The builder: meta fields, trigger, entry filter, re-entry, goal and the steps."""
    journey = get_object_or_404(Journey, pk=pk) if pk else None
    require_perms(request, "campaigns.change_journey" if journey else "campaigns.add_journey")
    if journey is not None and journey.status == JourneyStatus.ARCHIVED:
        messages.error(request, _("已归档的旅程不能再修改"))
        return redirect("journeys:detail", pk=journey.pk)
    initial = JourneyForm.initial_for(journey) if journey else None
    form = JourneyForm(request.POST or None, initial=initial, journey=journey)
    step_errors: dict = {}
    if request.method == "POST" and form.is_valid():
        target = journey or Journey()
        steps = form.cleaned_data["steps"]
        try:
            saved = journey_save(
                journey=target, steps=steps, user=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            if journey is not None:
                journey.refresh_from_db()  # the service set the posted fields on it
            step_errors, other = _split_errors(exc)
            if other:
                errors_to_form(form, ValidationError(other), aliases=form.aliases())
        else:
            if saved.status == JourneyStatus.ACTIVE:
                messages.success(request, _("已保存，修改立即生效"))
            else:
                messages.success(request, _("已保存旅程「%(n)s」") % {"n": saved.name})
            return redirect("journeys:detail", pk=saved.pk)
    elif form.is_bound and "steps" in form.cleaned_data:
        # the other fields are wrong: say what is wrong with the steps as well, at once
        kind = journey.kind if journey else form.cleaned_data.get("kind")
        try:
            journey_steps_clean(form.cleaned_data["steps"], kind=kind or JourneyKind.CUSTOMER)
        except ValidationError as exc:
            step_errors, other = _split_errors(exc)
            for message in other.get("steps", []):
                form.add_error("steps", message)
    if form.is_bound:
        posted = form.data.get("steps", "")
        try:
            steps_json = json.loads(posted) if posted else []
        except (ValueError, RecursionError):
            steps_json = []
        kind = journey.kind if journey else form.data.get("kind")
    else:
        steps_json = journey_steps_data(journey) if journey else []
        kind = journey.kind if journey else JourneyKind.CUSTOMER
    if not isinstance(steps_json, list):
        steps_json = []
    context = {
        "form": form,
        "journey": journey,
        "steps_json": steps_json,
        "step_errors": {str(k): v for k, v in step_errors.items()},
        "step_error_list": _step_error_list(step_errors),
        "builder_data": _builder_data(kind),
        "event_names": _event_names(),
        "tab": "journeys",
    }
    invalid = form.is_bound and (form.errors or step_errors)
    return render(request, "campaigns/journeys/form.html", context, status=400 if invalid else 200)


def _event_names() -> list[str]:
    """Event names to suggest: the catalogue's (known names and a sample of recent events;
    a DISTINCT over the whole events table would read millions of rows)."""
    from tags.catalogue import catalogue_events

    return sorted({e["name"] for e in catalogue_events()} | {"coupon_used"})


# --- a journey -----------------------------------------------------------------------------


def _funnel(rows: list[dict]) -> dict | None:
    if not any(row["entered"] for row in rows):
        return None
    labels = [f"{i + 1}. {row['step'].name or row['step'].get_kind_display()}"
              for i, row in enumerate(rows)]  # fmt: skip
    trace = {
        "type": "funnel",
        "y": labels,
        "x": [row["entered"] for row in rows],
        "textinfo": "value+percent initial",
        "marker": {"color": "#206bc4"},
    }
    height = max(240, 44 * len(rows) + 60)
    return figure([trace], margin={"l": 180, "r": 16, "t": 8, "b": 24}, height=height,
                  showlegend=False)  # fmt: skip


@login_required
@permission_required("campaigns.view_journey", raise_exception=True)
def journey_detail(request, pk: int):
    """The summary, status actions, each step's numbers and funnel, the latest enrolments."""
    journey = get_object_or_404(Journey.objects.select_related("campaign", "created_by"), pk=pk)
    stats = journey_stats(journey)
    for row in stats["steps"]:
        row["words"] = step_words(row["step"])
    enrolments = journey.enrolments.select_related("customer", "group_chat")
    status = request.GET.get("status", "")
    if status in EnrolmentStatus.values:
        enrolments = enrolments.filter(status=status)
    page = Paginator(enrolments.order_by("-entered_at", "-id"), ENROLMENTS_PAGE).get_page(
        request.GET.get("page")
    )
    step_names = {row["step"].position: row["step"] for row in stats["steps"]}
    for enrolment in page.object_list:
        enrolment.step = step_names.get(enrolment.position)
    context = {
        "journey": journey,
        "trigger_words": trigger_words(journey),
        "entry_filter": json.dumps(journey.entry_filter, ensure_ascii=False, indent=2)
        if journey.entry_filter
        else "",
        "stats": stats,
        "funnel": _funnel(stats["steps"]),
        "totals": [
            (value, label, stats["totals"].get(value, 0))
            for value, label in EnrolmentStatus.choices
        ],
        "page_obj": page,
        "enrolments": page.object_list,
        "status": status,
        "statuses": EnrolmentStatus.choices,
        "cooldown": journey.reentry == ReentryPolicy.COOLDOWN,
        "open_tasks": journey.tasks.filter(status=TaskStatus.OPEN).count(),
        "tab": "journeys",
    }
    return render(request, "campaigns/journeys/detail.html", context)


@login_required
@require_POST
@permission_required("campaigns.change_journey", raise_exception=True)
def journey_action(request, pk: int, action: str):
    """启用 / 暂停 / 归档; the services' refusals are shown as messages."""
    if action not in JOURNEY_ACTIONS:
        raise Http404
    journey = get_object_or_404(Journey, pk=pk)
    service, done = JOURNEY_ACTIONS[action]
    try:
        service(journey=journey, user=request.user)
    except ValidationError as exc:
        _error_message(request, exc)
    else:
        messages.success(request, done)
    return redirect("journeys:detail", pk=journey.pk)


# --- staff tasks ---------------------------------------------------------------------------


@login_required
@permission_required("campaigns.view_stafftask", raise_exception=True)
def task_list(request):
    """Staff tasks, open ones first by due time; overdue in red."""
    tasks = StaffTask.objects.select_related("staff", "customer", "group_chat", "journey")
    status = request.GET.get("status", TaskStatus.OPEN)
    staff, search = request.GET.get("staff", ""), request.GET.get("q", "").strip()
    if status in TaskStatus.values:
        tasks = tasks.filter(status=status)
    if staff.isdigit():
        tasks = tasks.filter(staff_id=int(staff))
    journey = request.GET.get("journey", "")
    if journey.isdigit():
        tasks = tasks.filter(journey_id=int(journey))
    if search:
        tasks = tasks.filter(
            Q(title__icontains=search) | Q(body__icontains=search)
            | Q(customer__name__icontains=search) | Q(group_chat__name__icontains=search)
        )  # fmt: skip
    page = Paginator(tasks.order_by("status", "due_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page_obj": page,
        "tasks": page.object_list,
        "status": status,
        "staff": staff,
        "search": search,
        "journey": Journey.objects.filter(pk=int(journey)).first() if journey.isdigit() else None,
        "statuses": TaskStatus.choices,
        "staff_members": Staff.objects.filter(tasks__isnull=False).distinct().order_by("name"),
        "now": timezone.now(),
        "tab": "tasks",
    }
    return render(request, "campaigns/journeys/tasks.html", context)


@login_required
@require_POST
@permission_required("campaigns.change_stafftask", raise_exception=True)
def task_done(request, pk: int):
    task = get_object_or_404(StaffTask, pk=pk)
    if task.status == TaskStatus.OPEN:
        StaffTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
            status=TaskStatus.DONE, completed_at=timezone.now(), completed_by=request.user
        )
        messages.success(request, _("已标记完成：%(t)s") % {"t": task.title})
    else:
        messages.error(request, _("这个任务已经不是待完成状态"))
    back = request.POST.get("next", "")
    if back.startswith("/journeys/tasks/"):
        return redirect(back)
    return redirect("journeys:tasks")


# --- real-time triggers --------------------------------------------------------------------


@login_required
@permission_required("campaigns.view_triggerrule", raise_exception=True)
def trigger_list(request):
    rules = TriggerRule.objects.annotate(
        waiting=Count("waits", filter=Q(waits__status=WaitStatus.WAITING)),
        fired=Count("waits", filter=Q(waits__status=WaitStatus.FIRED)),
        total=Count("waits"),
    ).select_related("event_a_channel")
    status = request.GET.get("status", "")
    if status in TriggerStatus.values:
        rules = rules.filter(status=status)
    page = Paginator(rules.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for rule in page.object_list:
        rule.action_words = _action_words(rule.action)
    context = {"page_obj": page, "rules": page.object_list, "status": status,
               "statuses": TriggerStatus.choices, "tab": "triggers"}  # fmt: skip
    return render(request, "campaigns/journeys/trigger_list.html", context)


def _action_words(action: dict) -> str:
    class _Step:
        kind = StepKind.ACTION
        config = action or {}

    return step_words(_Step())


@login_required
def trigger_edit(request, pk: int | None = None):
    rule = get_object_or_404(TriggerRule, pk=pk) if pk else None
    require_perms(request, "campaigns.change_triggerrule" if rule else "campaigns.add_triggerrule")
    initial = TriggerRuleForm.initial_for(rule) if rule else None
    form = TriggerRuleForm(request.POST or None, initial=initial)
    action_errors: dict = {}
    if request.method == "POST" and form.is_valid():
        target = rule or TriggerRule()
        try:
            saved = trigger_rule_save(rule=target, user=request.user, **form.service_kwargs())
        except ValidationError as exc:
            if rule is not None:
                rule.refresh_from_db()
            _steps, other = _split_errors(exc)
            rest = {}
            for key, errors in other.items():
                if key == "action" or key.startswith("action."):
                    action_errors[key.partition(".")[2] or "action"] = " ".join(errors)
                else:
                    rest[key] = errors
            if rest:
                errors_to_form(form, ValidationError(rest))
        else:
            messages.success(request, _("已保存实时触发「%(n)s」") % {"n": saved.name})
            return redirect("journeys:trigger_detail", pk=saved.pk)
    if form.is_bound:
        try:
            action_json = json.loads(form.data.get("action") or "{}")
        except (ValueError, RecursionError):
            action_json = {}
    else:
        action_json = rule.action if rule else {"action": ActionKind.SEND}
    context = {
        "form": form,
        "rule": rule,
        "action_json": action_json if isinstance(action_json, dict) else {},
        "action_errors": action_errors,
        "builder_data": _builder_data(JourneyKind.CUSTOMER),
        "event_names": _event_names(),
        "tab": "triggers",
    }
    invalid = form.is_bound and (form.errors or action_errors)
    return render(
        request, "campaigns/journeys/trigger_form.html", context, status=400 if invalid else 200
    )


@login_required
@permission_required("campaigns.view_triggerrule", raise_exception=True)
def trigger_detail(request, pk: int):
    rule = get_object_or_404(TriggerRule.objects.select_related("event_a_channel"), pk=pk)
    stats = trigger_stats(rule)
    waits = rule.waits.select_related("customer", "channel_account")
    status = request.GET.get("status", "")
    if status in WaitStatus.values:
        waits = waits.filter(status=status)
    page = Paginator(waits.order_by("-deadline", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    lag = stats["avg_lag"]
    context = {
        "rule": rule,
        "stats": stats,
        "by_status": [(v, label, stats["by_status"].get(v, 0)) for v, label in WaitStatus.choices],
        "avg_lag_seconds": round(lag.total_seconds(), 1) if lag is not None else None,
        "action_words": _action_words(rule.action),
        "condition": json.dumps(rule.condition, ensure_ascii=False, indent=2)
        if rule.condition
        else "",
        "page_obj": page,
        "waits": page.object_list,
        "status": status,
        "statuses": WaitStatus.choices,
        "tab": "triggers",
    }
    return render(request, "campaigns/journeys/trigger_detail.html", context)


@login_required
@require_POST
@permission_required("campaigns.change_triggerrule", raise_exception=True)
def trigger_action(request, pk: int, action: str):
    """Pause or resume a rule."""
    targets = {"pause": TriggerStatus.PAUSED, "resume": TriggerStatus.ACTIVE}
    if action not in targets:
        raise Http404
    rule = get_object_or_404(TriggerRule, pk=pk)
    fields = {"status": targets[action]}
    if action == "resume" and rule.status == TriggerStatus.PAUSED:
        fields["scanned_until"] = timezone.now()  # events during the pause start no waits
    TriggerRule.objects.filter(pk=rule.pk).update(**fields)
    if action == "pause":
        messages.success(request, _("已暂停：不再开始新的等待，已在等待的到期后仍会处理"))
    else:
        messages.success(request, _("已恢复"))
    return redirect("journeys:trigger_detail", pk=rule.pk)

"""Every periodic task of Quanyu, declared in one place (installed by setup_periodic_tasks)."""

from django.utils.translation import gettext_lazy as _

# name → (task, crontab fields, description)
PERIODIC_TASKS = {
    "customers: expire points (nightly)": (
        "customers.points_expire",
        {"minute": "10", "hour": "0"},
        _("每晚让到期积分过期，并刷新“即将过期积分”"),
    ),
    "customers: member tiers (nightly)": (
        "customers.tiers_refresh",
        {"minute": "20", "hour": "0"},
        _("每晚按滚动周期重算会员等级（自动升降级）"),
    ),
    "customers: lifecycle & RFM (nightly)": (
        "customers.score_customers",
        {"minute": "30", "hour": "2"},
        _("每晚重算客户生命周期与 RFM 分群"),
    ),
    "customers: value clusters (nightly)": (
        "customers.value_clusters",
        {"minute": "45", "hour": "2"},
        _("每晚用 k-means 重算客户价值分群"),
    ),
    "tags: run tag rules (nightly)": (
        "tags.run_tag_rules",
        {"minute": "15", "hour": "3"},
        _("每晚（T+1）执行自动标签规则"),
    ),
    "tags: refresh audiences (nightly)": (
        "tags.refresh_audiences",
        {"minute": "45", "hour": "3"},
        _("每晚刷新快照人群包并记录各人群包人数"),
    ),
    "channels: sync due accounts (every 5 minutes)": (
        "channels.sync_due_accounts",
        {"minute": "*/5"},
        _("每 5 分钟启动到了同步间隔的渠道账号同步（粉丝、客户、小程序数据、抖音）"),
    ),
    "channels: reconcile (nightly)": (
        "channels.reconcile",
        {"minute": "0", "hour": "4"},
        _("每晚全量同步公众号粉丝与企业微信客户，补上没有收到的回调"),
    ),
    "channels: refresh live codes (every 15 minutes)": (
        "channels.refresh_live_codes",
        {"minute": "*/15"},
        _("每 15 分钟按接待时间和每日上限更新活码的接待员工"),
    ),
    "campaigns: launch due pushes (every minute)": (
        "campaigns.launch_due_pushes",
        {"minute": "*"},
        _("每分钟启动到了定时发送时间的推送"),
    ),
    "campaigns: decide timed A/B tests (every 5 minutes)": (
        "campaigns.ab_decide_due",
        {"minute": "*/5"},
        _("每 5 分钟为到了测试时长的 A/B 推送选出胜出版本（并按设置发给其余人）"),
    ),
    "campaigns: sweep deliveries (every minute)": (
        "campaigns.sweep_deliveries",
        {"minute": "*"},
        _("每分钟把卡在发送中的投递标为结果未知（不重发），并继续未完成的推送批次"),
    ),
    "campaigns: journeys (every minute)": (
        "campaigns.journeys_tick",
        {"minute": "*"},
        _("每分钟让 SOP 旅程纳入新客户、按目标退出，并执行到期的步骤"),
    ),
    "campaigns: real-time triggers (every 15 seconds)": (
        "campaigns.triggers_tick",
        {"every_seconds": 15},
        _("每 15 秒把新的事件 A 记为等待，并处理到期的等待（事件 B 取消，条件满足则执行动作）"),
    ),
    "reports: rollups T+1 and alerts (nightly)": (
        "reports.rollups_nightly",
        {"minute": "40", "hour": "0"},
        _("每晚（T+1）重算最近 3 天的日汇总，再评估预警规则"),
    ),
    "reports: today's rollups (hourly)": (
        "reports.rollups_recent",
        {"minute": "5"},
        _("每小时刷新今天和昨天的日汇总，看板当天的数字随之更新"),
    ),
}

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
}

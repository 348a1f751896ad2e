from django.db import models
from django.utils.translation import gettext_lazy as _


class AttributionModel(models.TextChoices):
    LAST_TOUCH = "last_touch", _("末次触点")
    FIRST_TOUCH = "first_touch", _("首次触点")
    LINEAR = "linear", _("线性")
    TIME_DECAY = "time_decay", _("时间衰减")
    POSITION = "position", _("位置（40/20/40）")


class RollupStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("计算中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class RollupTrigger(models.TextChoices):
    BEAT = "beat", _("定时（T+1）")
    MANUAL = "manual", _("手动回填")
    COMMAND = "command", _("命令行")


class AlertComparison(models.TextChoices):
    BELOW_VALUE = "below_value", _("低于阈值")
    ABOVE_VALUE = "above_value", _("高于阈值")
    BELOW_MEAN = "below_mean", _("低于均值 N%")
    ABOVE_MEAN = "above_mean", _("高于均值 N%")
    BELOW_PREVIOUS = "below_previous", _("比上一周期下降 N%")
    ABOVE_PREVIOUS = "above_previous", _("比上一周期上升 N%")


class AlertScope(models.TextChoices):
    EACH_ACCOUNT = "each", _("逐个渠道账号")
    TOTAL = "total", _("所有渠道合计")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("未处理")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    RESOLVED = "resolved", _("已解决")

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdentityKind(models.TextChoices):
    WECHAT_UNIONID = "wechat_unionid", _("微信 UnionID")
    WECHAT_OPENID = "wechat_openid", _("微信 OpenID")
    WECOM_EXTERNAL_USERID = "wecom_external_userid", _("企业微信外部联系人ID")
    DOUYIN_OPEN_ID = "douyin_open_id", _("抖音 OpenID")
    APP_USER_ID = "app_user_id", _("App 用户ID")
    PLATFORM_BUYER_ID = "platform_buyer_id", _("电商平台买家ID")
    PHONE = "phone", _("手机号")
    EMAIL = "email", _("邮箱")
    MEMBER_NO = "member_no", _("会员号")


# Kinds whose value is only unique inside one channel account (scope = account code).
SCOPED_KINDS = frozenset(
    {
        IdentityKind.WECHAT_OPENID,
        IdentityKind.WECOM_EXTERNAL_USERID,
        IdentityKind.DOUYIN_OPEN_ID,
        IdentityKind.APP_USER_ID,
        IdentityKind.PLATFORM_BUYER_ID,
    }
)


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("未知")
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class Lifecycle(models.TextChoices):
    NEW = "new", _("新客")
    ACTIVE = "active", _("活跃")
    SLEEPING = "sleeping", _("沉睡")
    CHURNED = "churned", _("流失")


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("重要价值客户")
    LOYAL = "loyal", _("忠诚客户")
    POTENTIAL = "potential", _("潜力客户")
    NEW_CUSTOMERS = "new_customers", _("新成交客户")
    AT_RISK = "at_risk", _("重要挽留客户")
    HIBERNATING = "hibernating", _("沉睡客户")
    LOST = "lost", _("流失客户")
    PROSPECTS = "prospects", _("未成交潜客")


class OrderStatus(models.TextChoices):
    CREATED = "created", _("待支付")
    PAID = "paid", _("已支付")
    SHIPPED = "shipped", _("已发货")
    COMPLETED = "completed", _("已完成")
    REFUNDED = "refunded", _("已退款")
    CANCELLED = "cancelled", _("已取消")


# Statuses whose amount counts as revenue.
REVENUE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED)


class ConsentChannel(models.TextChoices):
    WECHAT_OA = "wechat_oa", _("公众号消息")
    WECOM = "wecom", _("企业微信消息")
    WECHAT_MINI = "wechat_mini", _("小程序订阅消息")
    SMS = "sms", _("短信")
    EMAIL = "email", _("邮件")
    APP_PUSH = "app_push", _("App 推送")
    DOUYIN = "douyin", _("抖音私信")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("已同意")
    REVOKED = "revoked", _("已退订")


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("客户")
    EVENTS = "events", _("事件")


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("排队中")
    RUNNING = "running", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


# The standard event catalogue (custom names are allowed too).
STANDARD_EVENTS = (
    "subscribe",
    "unsubscribe",
    "scan_qrcode",
    "add_external_contact",
    "del_external_contact",
    "join_group",
    "leave_group",
    "message_in",
    "page_view",
    "view_product",
    "add_to_cart",
    "checkout",
    "order_paid",
    "refund",
    "sign_in",
    "share",
    "comment",
    "like",
    "video_play",
    "live_watch",
    "link_click",
    "coupon_claim",
    "coupon_redeem",
    "store_visit",
)


# The standard event catalogue (custom names are allowed too and shown as they are).
# events the system writes about a customer, not something the customer did
SYSTEM_EVENTS = ("tier_changed",)

EVENT_LABELS = {
    "subscribe": _("关注公众号"),
    "unsubscribe": _("取消关注"),
    "scan_qrcode": _("扫码"),
    "add_external_contact": _("添加企微好友"),
    "del_external_contact": _("删除企微好友"),
    "join_group": _("入群"),
    "leave_group": _("退群"),
    "message_in": _("发来消息"),
    "page_view": _("浏览页面"),
    "view_product": _("浏览商品"),
    "add_to_cart": _("加入购物车"),
    "checkout": _("提交订单"),
    "order_paid": _("支付订单"),
    "refund": _("退款"),
    "sign_in": _("签到/登录"),
    "share": _("分享"),
    "comment": _("评论"),
    "like": _("点赞"),
    "video_play": _("播放视频"),
    "live_watch": _("观看直播"),
    "link_click": _("点击链接"),
    "coupon_claim": _("领取优惠券"),
    "coupon_redeem": _("使用优惠券"),
    "store_visit": _("到店"),
    "tier_changed": _("会员等级变化"),
    "lost_contact": _("删除了员工（流失）"),
}


class PointsKind(models.TextChoices):
    EARN = "earn", _("获得")
    REDEEM = "redeem", _("兑换")
    EXPIRE = "expire", _("过期")
    ADJUST = "adjust", _("调整")
    REVERSE = "reverse", _("冲回")


class PointsRounding(models.TextChoices):
    DOWN_TENTH = "down_tenth", _("保留一位小数（舍去）")
    DOWN_WHOLE = "down_whole", _("取整（舍去）")
    HALF_UP_WHOLE = "half_up_whole", _("取整（四舍五入）")


class ExpiryPolicy(models.TextChoices):
    NEVER = "never", _("永久有效")
    END_OF_NEXT_YEAR = "end_of_next_year", _("次年年底过期")
    AFTER_MONTHS = "after_months", _("获得后 N 个月过期")


class TierBasis(models.TextChoices):
    POINTS = "points", _("滚动周期内获得的积分")
    SPEND = "spend", _("滚动周期内的消费金额")


class RewardKind(models.TextChoices):
    COUPON = "coupon", _("优惠券")
    FREE_SHIPPING = "free_shipping", _("包邮券")
    MERCHANDISE = "merchandise", _("实物商品")


class RedemptionStatus(models.TextChoices):
    PENDING = "pending", _("待发放")
    FULFILLED = "fulfilled", _("已发放")
    CANCELLED = "cancelled", _("已取消（积分退回）")

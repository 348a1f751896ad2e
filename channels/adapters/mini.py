"""The WeChat Mini Program (小程序): login codes, subscribe messages, daily analysis."""

from datetime import date

from channels.adapters.base import OutMessage, SendResult
from channels.adapters.shared import ClientAdapter
from channels.choices import ChannelKind
from channels.clients import wechat_client

ANALYSIS_URL = "https://api.weixin.qq.com/datacube/"


class MiniProgramAdapter(ClientAdapter):
    """A Mini Program through wechatpy. `send` sends subscribe messages (`template_id`,
    `data`, `page`); 43101 means the user did not accept (or used up) the subscription."""

    kind = ChannelKind.WECHAT_MINI
    capabilities = frozenset({"sync:analysis", "send", "code_to_session"})
    make_client = staticmethod(wechat_client)

    def code_to_session(self, js_code: str) -> dict:
        """wx.login()'s code → `{"openid", "unionid"?, "session_key"}`."""
        answer = self.call(self.client.wxa.code_to_session, js_code)
        return {k: answer[k] for k in ("openid", "unionid", "session_key") if k in answer}

    def send(self, batch: list[OutMessage]) -> list[SendResult]:
        return self.send_each(batch, self._send_one)

    def _send_one(self, message: OutMessage) -> str:
        content = message.content
        answer = self.call(
            self.client.wxa.send_subscribe_message,
            message.to,
            content["template_id"],
            content.get("data", {}),
            page=content.get("page"),
        )
        return str(answer.get("msgid", ""))

    def daily_visits(self, day: date) -> dict:
        """One day's visit trend (`session_cnt`, `visit_pv`, `visit_uv`, `visit_uv_new`…)."""
        rows = self._analysis("getweanalysisappiddailyvisittrend", day).get("list") or [{}]
        return {k: v for k, v in rows[0].items() if k != "ref_date"}

    def daily_retention(self, day: date) -> dict:
        """Retention of the users of `day`: `{"visit_uv_new": {days later: users}, "visit_uv":
        {…}}` (day 0 is the day itself)."""
        answer = self._analysis("getweanalysisappiddailyretaininfo", day)
        return {
            name: {str(item["key"]): item["value"] for item in answer.get(name) or []}
            for name in ("visit_uv_new", "visit_uv")
        }

    def _analysis(self, endpoint: str, day: date) -> dict:
        ref = day.strftime("%Y%m%d")  # these APIs take one day at a time
        return self.call(
            self.client.post, ANALYSIS_URL + endpoint, data={"begin_date": ref, "end_date": ref}
        )

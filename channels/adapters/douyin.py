"""Douyin (抖音) Open Platform: the account's fans, videos and their data, comments."""

from collections.abc import Iterator

from channels.adapters.shared import ClientAdapter, chunks
from channels.choices import ChannelKind
from channels.clients import douyin_client

PAGE = 20  # the list APIs answer at most this many a page
VIDEO_DATA_BATCH = 20


class DouyinAdapter(ClientAdapter):
    """A Douyin account (`app_id` the client key, `options["open_id"]` the authorised
    creator whose fans and videos are read) through a small signed-HTTP client."""

    kind = ChannelKind.DOUYIN
    capabilities = frozenset({"sync:fans"})
    make_client = staticmethod(douyin_client)

    @property
    def open_id(self) -> str:
        return self.account.options.get("open_id", "")

    def _pages(self, path: str, **params) -> Iterator[dict]:
        cursor = 0
        while True:
            data = self.call(
                self.client.get, path, open_id=self.open_id, cursor=cursor, count=PAGE, **params
            )
            yield from data.get("list") or []
            if not data.get("has_more"):
                return
            cursor = data["cursor"]

    def fans(self) -> list[dict]:
        """Every fan: `{"open_id", "nickname", "gender", "city", "province"…}`."""
        return list(self._pages("/fans/list/"))

    def videos(self) -> list[dict]:
        """Every video of the account: `{"item_id", "title", "create_time", "statistics"}`."""
        return list(self._pages("/video/list/"))

    def video_data(self, item_ids: list[str]) -> list[dict]:
        """Fresh data (`statistics`: play, digg, comment, share… counts) of these videos."""
        found = []
        for part in chunks(item_ids, VIDEO_DATA_BATCH):
            data = self.call(
                self.client.post, "/video/data/", {"item_ids": part}, open_id=self.open_id
            )
            found += data.get("list") or []
        return found

    def comments(self, item_id: str) -> list[dict]:
        """A video's comments: `{"comment_id", "comment_user_id", "content", "create_time"…}`."""
        return list(self._pages("/item/comment/list/", item_id=item_id))

"""Requests, responses and a small path router for the sandbox server.

Platform handlers raise `ApiError(errcode)` for the platform's own error answers; the gateway
renders it in that platform's shape. Route patterns are plain paths with `<name>` segments.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

# errmsg of the errcodes the sandbox answers, as the platforms word them.
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40032: "invalid openid list size",
    40008: "invalid message type",
    40037: "invalid template_id",
    40050: "invalid chatid",
    40052: "invalid action name",
    40053: "invalid action info, please check document",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40066: "invalid url",
    40068: "invalid tagid",
    40071: "tag name already exists",
    40096: "invalid external userid",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40163: "code been used",
    41001: "access_token missing",
    41051: "externaluser has started chatting",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45056: "too many tags now, no need to add new",
    45059: "this user has too many tags",
    45065: "clientmsgid exist",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    47001: "data format error",
    48001: "api unauthorized",
    60111: "userid not found",
    61500: "date format error",
    61501: "date range error",
    81013: "user & party & tag all invalid",
    84061: "not external contact",
}


class ApiError(Exception):
    """A platform error answer (`errcode` as the platform numbers it)."""

    def __init__(self, errcode: int, errmsg: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")
        super().__init__(f"{errcode}: {self.errmsg}")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    raw_query: str = ""
    params: dict[str, str] = field(default_factory=dict)  # from `<name>` route segments

    @classmethod
    def parse(cls, method: str, target: str, headers, body: bytes) -> "Request":
        parts = urlsplit(target)
        return cls(
            method=method.upper(),
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            raw_query=parts.query,
        )

    def json(self) -> dict:
        """The JSON object in the body; an empty body is `{}`, anything else is 47001."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(47001)
        if not isinstance(data, dict):
            raise ApiError(47001)
        return data

    @property
    def base_url(self) -> str:
        """This server as the client reached it, for URLs the sandbox hands out."""
        return "http://" + self.headers.get("host", "127.0.0.1")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, data, status: int = 200) -> "Response":
        return cls(status, json.dumps(data, ensure_ascii=False).encode("utf-8"))


Handler = Callable[[Request], Response]


class Router:
    """Maps (method, path pattern) to handlers; `<name>` matches one path segment."""

    def __init__(self):
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", re.escape(pattern))
        self._routes.append((method.upper(), re.compile(f"^{regex}$"), handler))

    def route(self, method: str, pattern: str):
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def match(self, request: Request) -> Handler | None:
        for method, regex, handler in self._routes:
            found = regex.match(request.path)
            if found and method == request.method:
                request.params = found.groupdict()
                return handler
        return None

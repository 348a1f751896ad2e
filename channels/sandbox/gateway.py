"""The pipeline every platform API call goes through.

1. find the endpoint under the platform's prefix (`/api`, `/qyapi`, `/douyin`);
2. find the tenant (token endpoints: by appid, creating it on first use; others: by token);
3. count the call, then apply an injected fault (delay, HTTP status, errcode; 40001/42001
   also drop the tenant's tokens so the client must refresh);
4. check the access token (41001 missing, 40001 unknown, 42001 expired) and that the
   tenant's kind has this API (48001);
5. run the handler under the state lock and answer in the platform's JSON shape.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from channels.sandbox.router import ApiError, Request, Response
from channels.sandbox.state import SandboxState, Tenant

WECHAT_KINDS = ("wechat_oa", "wechat_mini")


@dataclass
class Call:
    """One platform API call as a handler sees it."""

    state: SandboxState
    tenant: Tenant
    request: Request

    @property
    def data(self):
        return self.tenant.data

    @cached_property
    def body(self) -> dict:
        return self.request.json()

    def arg(self, name: str) -> str:
        return self.request.query.get(name, "")

    def now(self) -> int:
        return self.state.now()

    def log(self, kind: str, to: str, content: dict, **extra) -> dict:
        return self.state.log(kind, self.tenant.appid, to, content, **extra)


@dataclass(frozen=True)
class Endpoint:
    """One platform API. `kinds`: tenant kinds that have it (the first is the kind a tenant is
    created with on first use). Token endpoints set `appid_of` and `token=False`."""

    method: str
    path: str
    handler: Callable[[Call], dict | Response]
    kinds: tuple[str, ...]
    token: bool = True
    appid_of: Callable[[Request], str] | None = None


class Platform:
    """One platform host: its prefix, endpoints, how calls carry tokens, how answers look.
    WeChat, the Mini Program and WeCom share this shape; Douyin overrides it."""

    def __init__(self, prefix: str, endpoints: list[Endpoint]):
        self.prefix = prefix
        self.endpoints = {(e.method, e.path): e for e in endpoints}

    def token_of(self, request: Request) -> str:
        return request.query.get("access_token", "")

    def authenticate(self, call: Call) -> None:
        """Extra request checks beyond the token (Douyin's signature)."""

    def ok(self, data: dict) -> Response:
        return Response.json({"errcode": 0, "errmsg": "ok", **data})

    def error(self, errcode: int, errmsg: str) -> Response:
        return Response.json({"errcode": errcode, "errmsg": errmsg})

    def server_error(self, status: int) -> Response:
        return Response.json({"errcode": -1, "errmsg": "system error"}, status)


class Gateway:
    """Runs platform calls against the sandbox state (see the module docstring)."""

    def __init__(self, state: SandboxState, platforms: list[Platform]):
        self.state = state
        self.platforms = platforms

    def platform_for(self, path: str) -> Platform | None:
        for platform in self.platforms:
            if path.startswith(platform.prefix + "/"):
                return platform
        return None

    def handle(self, platform: Platform, request: Request) -> Response:
        path = request.path[len(platform.prefix) :]
        endpoint = platform.endpoints.get((request.method, path))
        if endpoint is None:
            if any(p == path for _, p in platform.endpoints):
                code = 43002 if request.method == "GET" else 43001
                return platform.error(code, ApiError(code).errmsg)
            return Response(404, platform.error(40066, ApiError(40066).errmsg).body)
        state = self.state
        with state.lock:
            if endpoint.appid_of:
                appid = endpoint.appid_of(request)
                tenant = state.tenant_for(appid, endpoint.kinds[0]) if appid else None
            else:
                tenant = state.tenant_of_token(platform.token_of(request))
            if tenant:
                tenant.calls[path] += 1
            fault = state.faults.take(tenant.appid if tenant else "", path)
            if fault and tenant and fault.errcode in (40001, 42001):
                state.drop_tokens(tenant.appid)
        if fault:
            fault.pause()
            if fault.status:
                return platform.server_error(fault.status)
            if fault.errcode is not None:
                return platform.error(fault.errcode, ApiError(fault.errcode).errmsg)
        with state.lock:
            try:
                if endpoint.token:
                    tenant = state.check_token(platform.token_of(request))
                elif tenant is None:
                    raise ApiError(40013)
                if tenant.kind not in endpoint.kinds:
                    raise ApiError(48001)
                call = Call(state, tenant, request)
                platform.authenticate(call)
                answer = endpoint.handler(call)
            except ApiError as error:
                return platform.error(error.errcode, error.errmsg)
        return answer if isinstance(answer, Response) else platform.ok(answer)

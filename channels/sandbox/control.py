"""The control API under `/sandbox/` (docs/channels.md), plus the SMS / app push providers.

JSON in and out; a bad request is 400 `{"error"}`, an unknown tenant 404, an unreachable
callback URL 502. Beyond the contract: `GET /sandbox/` (health), `GET /sandbox/tenants`,
`GET /sandbox/faults`, `GET /sandbox/messages?after=<id>`, `GET /sandbox/qr.png?text=`, and
`simulate` takes `"action": "verify"` (the URL check), `create_time` / `msg_id` (to replay a
message exactly), `repeat` N (the platform's retries) and `bad_signature` (a forged call).
"""

from channels.sandbox import callbacks
from channels.sandbox.images import qr_png
from channels.sandbox.router import ApiError, Request, Response, Router
from channels.sandbox.state import SandboxState, Tenant


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Control:
    """Handlers of the control API over one `SandboxState`."""

    def __init__(self, state: SandboxState, callback_timeout: float = 10.0):
        self.state = state
        self.callback_timeout = callback_timeout
        self.router = Router()
        routes = [
            ("GET", "/sandbox/", self.health),
            ("POST", "/sandbox/reset", self.reset),
            ("GET", "/sandbox/tenants", self.tenants),
            ("POST", "/sandbox/tenants/<appid>", self.configure),
            ("GET", "/sandbox/tenants/<appid>", self.describe),
            ("POST", "/sandbox/tenants/<appid>/mutate", self.mutate),
            ("POST", "/sandbox/faults", self.add_fault),
            ("GET", "/sandbox/faults", self.faults),
            ("DELETE", "/sandbox/faults", self.clear_faults),
            ("GET", "/sandbox/messages", self.messages),
            ("GET", "/sandbox/calls", self.calls),
            ("POST", "/sandbox/simulate", self.simulate),
            ("POST", "/sandbox/providers/sms", lambda r: self.provider(r, "sms")),
            ("POST", "/sandbox/providers/push", lambda r: self.provider(r, "push")),
            ("GET", "/sandbox/qr.png", self.qr),
        ]
        for method, pattern, handler in routes:
            self.router.add(method, pattern, handler)

    def handle(self, request: Request) -> Response:
        handler = self.router.match(request)
        if handler is None:
            return Response.json({"error": f"no route {request.method} {request.path}"}, 404)
        try:
            answer = handler(request)
        except BadRequest as error:
            return Response.json({"error": str(error)}, error.status)
        except (ValueError, ApiError) as error:
            return Response.json({"error": str(error)}, 400)
        return answer if isinstance(answer, Response) else Response.json(answer)

    def _tenant(self, appid) -> Tenant:
        tenant = self.state.tenant(str(appid or ""))
        if tenant is None:
            raise BadRequest(f"unknown tenant {appid!r}", 404)
        return tenant

    # -- tenants ----------------------------------------------------------------------------

    def health(self, request: Request) -> dict:
        return {"ok": True, "tenants": len(self.state.tenants)}

    def reset(self, request: Request) -> dict:
        self.state.reset()
        return {"ok": True}

    def tenants(self, request: Request) -> list[dict]:
        with self.state.lock:
            return [tenant.summary() for tenant in self.state.tenants.values()]

    def configure(self, request: Request) -> dict:
        with self.state.lock:
            return self.state.configure(request.params["appid"], request.json()).summary()

    def describe(self, request: Request) -> dict:
        with self.state.lock:
            return self._tenant(request.params["appid"]).describe()

    def mutate(self, request: Request) -> dict:
        body = request.json()
        changes = {key: int(body.get(key) or 0) for key in ("follow", "unfollow", "update")}
        if any(value < 0 for value in changes.values()):
            raise BadRequest("follow, unfollow and update are counts")
        with self.state.lock:
            tenant = self._tenant(request.params["appid"])
            tenant.mutations += 1
            result = tenant.data.mutate(tenant.rng("mutate"), self.state.now(), **changes)
            return {**result, "summary": tenant.summary()}

    # -- faults, log, calls -----------------------------------------------------------------

    def add_fault(self, request: Request) -> dict:
        spec = request.json()
        if spec.get("errcode") is None and not spec.get("status") and not spec.get("delay"):
            raise BadRequest("a fault needs an errcode, a status or a delay")
        with self.state.lock:
            return self.state.faults.add(spec).as_dict()

    def faults(self, request: Request) -> list[dict]:
        with self.state.lock:
            return self.state.faults.all()

    def clear_faults(self, request: Request) -> dict:
        with self.state.lock:
            self.state.faults.clear(request.query.get("appid", ""))
        return {"ok": True}

    def messages(self, request: Request) -> list[dict]:
        after = int(request.query.get("after") or 0)
        with self.state.lock:
            found = self.state.messages_for(
                request.query.get("appid", ""), request.query.get("kind", "")
            )
            return [m for m in found if m["id"] > after]

    def calls(self, request: Request) -> dict:
        with self.state.lock:
            return self.state.calls_for(request.query.get("appid", ""))

    # -- the platform's side ----------------------------------------------------------------

    def simulate(self, request: Request) -> dict:
        body = request.json()
        action = str(body.get("action") or "")
        with self.state.lock:
            tenant = self._tenant(body.get("appid"))
            target = callbacks.Target.of(tenant)
            if action != "verify":
                xml, ids = callbacks.prepare(tenant, action, body, self.state.now())
        try:
            if action == "verify":
                return callbacks.verify(target, timeout=self.callback_timeout)
            for _ in range(max(1, int(body.get("repeat") or 1))):
                answer = callbacks.deliver(
                    target,
                    xml,
                    openid=ids.get("openid", ""),
                    timeout=self.callback_timeout,
                    bad_signature=bool(body.get("bad_signature")),
                )
        except callbacks.CallbackUnreachable as error:
            raise BadRequest(str(error), 502)
        return {**answer, **ids, "xml": xml}

    def provider(self, request: Request, kind: str) -> dict | Response:
        """An SMS gateway or app push service: logs what it is asked to send. Body `{"appid",
        "to" (one or a list), "content": {…}, "key"?}`, or the content's fields at the top."""
        body = request.json()
        appid = str(body.get("appid") or "")
        with self.state.lock:
            fault = self.state.faults.take(appid, request.path)
        if fault:
            fault.pause()
            if fault.status:
                return Response.json({"ok": False, "error": "provider unavailable"}, fault.status)
            if fault.errcode is not None:
                return {
                    "ok": False,
                    "errcode": fault.errcode,
                    "errmsg": ApiError(fault.errcode).errmsg,
                }
        recipients = body.get("to")
        recipients = recipients if isinstance(recipients, list) else [recipients]
        if not all(recipients):
            raise BadRequest("'to' is required")
        content = body.get("content")
        if not isinstance(content, dict):  # fields at the top level: {"to", "text"/"title"…}
            content = {k: v for k, v in body.items() if k not in ("to", "appid", "key")}
        key = str(body.get("key") or "")
        with self.state.lock:
            ids = [
                self.state.log(kind, appid, str(to), content, key=key)["id"] for to in recipients
            ]
        return {"ok": True, "message_ids": ids}

    def qr(self, request: Request) -> Response:
        text = request.query.get("text", "")
        if not text:
            raise BadRequest("text is required")
        return Response(200, qr_png(text), "image/png")

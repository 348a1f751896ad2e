"""`SandboxServer`: the sandbox platform as a threaded stdlib HTTP server.

    server = SandboxServer(port=0).start()   # a thread; server.url is e.g. http://127.0.0.1:53121
    ...
    server.stop()

`manage.py sandbox_platform` runs one in the foreground. Paths under `/api`, `/qyapi` and
`/douyin` go through the platform gateway; `/sandbox/…` is the control API.
"""

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from channels.sandbox import douyin, mini, oa, wecom
from channels.sandbox.control import Control
from channels.sandbox.gateway import Gateway, Platform
from channels.sandbox.router import Request, Response
from channels.sandbox.state import SandboxState
from channels.sandbox.wecom_data import WecomData

logger = logging.getLogger(__name__)


def new_state() -> SandboxState:
    return SandboxState(
        {
            "wechat_oa": oa.OAData,
            "wechat_mini": mini.MiniData,
            "wecom": WecomData,
            "douyin": douyin.DouyinData,
        }
    )


class SandboxApp:
    """Routes a request to the platform gateway or the control API."""

    def __init__(self, state: SandboxState, callback_timeout: float):
        self.state = state
        self.gateway = Gateway(
            state,
            [
                Platform("/api", oa.ENDPOINTS + mini.ENDPOINTS),
                Platform("/qyapi", wecom.ENDPOINTS),
                douyin.DouyinPlatform("/douyin", douyin.ENDPOINTS),
            ],
        )
        self.control = Control(state, callback_timeout)

    def handle(self, request: Request) -> Response:
        try:
            platform = self.gateway.platform_for(request.path)
            if platform:
                return self.gateway.handle(platform, request)
            return self.control.handle(request)
        except Exception as error:  # a sandbox bug must answer, not hang the client
            logger.exception("sandbox failed on %s %s", request.method, request.path)
            return Response.json(
                {"errcode": -1, "errmsg": "system error", "error": repr(error)}, 500
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: paging 20,000 followers stays cheap
    server_version = "QuanyuSandbox/1.0"
    timeout = 60  # idle keep-alive connections are closed after a minute
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request.parse(self.command, self.path, self.headers, body)
        response = self.server.app.handle(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        # the blank line and the body go out with the headers: one write, not two (a fifth
        # less CPU a call, which is what bounds SMS dispatch against the sandbox)
        self._headers_buffer.append(b"\r\n" + (response.body if self.command != "HEAD" else b""))
        self.flush_headers()

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _dispatch

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class SandboxServer:
    """The sandbox platform bound to (host, port); port 0 picks a free one."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, callback_timeout: float = 10.0):
        self.state = new_state()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = SandboxApp(self.state, callback_timeout)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SandboxServer":
        """Serve in a daemon thread (tests); returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name="sandbox-platform",
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        if self._thread:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""`SandboxControl`: the sandbox platform's control API from Python (tests, demo, commands).

    sandbox = SandboxControl(settings.SANDBOX_URL)
    sandbox.reset()
    sandbox.tenant("wx-oa", kind="wechat_oa", secret="s", token="t", aes_key=key,
                   callback_url=live_server.url + account.callback_path, followers=500)
    sandbox.fault(appid="wx-oa", path="/cgi-bin/user/get", errcode=45009, times=2)
    answer = sandbox.simulate("wx-oa", "subscribe", scene="spring")
    sandbox.messages(appid="wx-oa", kind="mass")

Error answers raise `requests.HTTPError` (400 bad request, 404 unknown tenant, 502 callback
URL unreachable). Proxies from the environment are ignored: the sandbox is local.
"""

import requests


class SandboxControl:
    """A thin client of `/sandbox/…`; every method returns the decoded JSON answer."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False

    def _call(self, method: str, path: str, json: dict | None = None, params: dict | None = None):
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = self.session.request(
            method,
            f"{self.base_url}/sandbox/{path}",
            json=json,
            params=params,
            timeout=self.timeout,
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> dict:
        return self._call("POST", "reset")

    def tenant(self, appid: str, **config) -> dict:
        """Create or update a tenant (`kind`, `secret`, `token`, `aes_key`, `callback_url`,
        `followers`, `staff`, `contacts`, `groups`, `seed`, …); returns its summary."""
        return self._call("POST", f"tenants/{appid}", json=config)

    def state(self, appid: str) -> dict:
        return self._call("GET", f"tenants/{appid}")

    def mutate(self, appid: str, *, follow: int = 0, unfollow: int = 0, update: int = 0) -> dict:
        changes = {"follow": follow, "unfollow": unfollow, "update": update}
        return self._call("POST", f"tenants/{appid}/mutate", json=changes)

    def fault(
        self,
        *,
        appid: str = "",
        path: str = "*",
        errcode: int | None = None,
        status: int | None = None,
        times: int | None = None,
        delay: float = 0,
    ) -> dict:
        spec = {
            "appid": appid,
            "path": path,
            "errcode": errcode,
            "status": status,
            "times": times,
            "delay": delay,
        }
        return self._call("POST", "faults", json=spec)

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")

    def clear_faults(self, appid: str = "") -> dict:
        return self._call("DELETE", "faults", params={"appid": appid})

    def messages(self, appid: str | None = None, kind: str | None = None) -> list[dict]:
        return self._call("GET", "messages", params={"appid": appid, "kind": kind})

    def calls(self, appid: str | None = None) -> dict[str, int]:
        return self._call("GET", "calls", params={"appid": appid})

    def simulate(self, appid: str, action: str, **fields) -> dict:
        """Play the platform's side (`subscribe`, `scan`, `unsubscribe`, `text`,
        `add_external_contact`, `del_external_contact`, `del_follow_user`, `join_group`,
        `leave_group`, `verify`)."""
        return self._call("POST", "simulate", json={"appid": appid, "action": action, **fields})

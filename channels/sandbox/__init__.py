"""The sandbox platform: a real HTTP server standing in for WeChat OA, WeCom, the WeChat Mini
Program and Douyin, with a control API for tests and the demo (docs/channels.md).

The core is the standard library plus wechatpy's crypto; nothing here needs Django settings.

- `server`     `SandboxServer`: the threaded HTTP server and the request dispatch.
- `router`     requests, responses, route matching, `ApiError`.
- `state`      `SandboxState` (tenants, tokens, faults, messages, calls; one lock) and `Tenant`.
- `population` `Person`, `Population`: deterministic fake users, paged in subscription order.
- `gateway`    the pipeline of every platform call: tenant, call count, faults, token, answer.
- `faults`     injected errors, HTTP statuses and delays.
- `oa`, `mini`, `wecom` (+ `wecom_data`), `douyin`: each platform's endpoints and data.
- `callbacks`  the platform's side: signed, encrypted callbacks POSTed to our callback URL.
- `control`    the control API under `/sandbox/`, and the SMS / app push providers.
- `images`     QR code PNGs for tickets and contact ways.
- `client`     `SandboxControl`, a `requests` wrapper of the control API.
"""

from channels.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]

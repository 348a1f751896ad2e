"""`manage.py sandbox_platform --host 127.0.0.1 --port 8090 [--seed-demo]`: run the sandbox
platform in the foreground.

`--seed-demo` sets up a tenant for every sandbox-mode WeChat OA, WeCom, Mini Program and
Douyin account in the database, with its app id, secret, callback token and AES key, and a
callback URL of `PUBLIC_URL` + the account's callback path, so the demo's syncs, sends and
simulated callbacks work at once. All share one seed: OA follower n, Mini Program user n and
WeCom contact n are one person (same unionid).
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from channels.models import ChannelAccount
from channels.sandbox.server import SandboxServer

DEMO_SEED = 2024
DEMO_SIZES = {  # a few hundred people: real-looking pages, quick syncs
    "wechat_oa": {"followers": 600},
    "wechat_mini": {"followers": 400},
    "wecom": {"staff": 6, "contacts": 300, "groups": 4},
    "douyin": {"followers": 300, "videos": 12},
}


def demo_tenants() -> list[tuple[str, dict]]:
    """(appid, tenant settings) of each sandbox-mode account the sandbox can play."""
    tenants = []
    accounts = ChannelAccount.objects.filter(sandbox=True, kind__in=DEMO_SIZES).order_by("pk")
    for account in accounts:
        config = {
            "kind": account.kind,
            "secret": account.secret,
            "token": account.token,
            "aes_key": account.aes_key,
            "callback_url": settings.PUBLIC_URL.rstrip("/") + account.callback_path,
            "seed": DEMO_SEED,
            **DEMO_SIZES[account.kind],
        }
        if account.kind == "wecom" and account.options.get("agent_id"):
            config["agent_id"] = str(account.options["agent_id"])
        tenants.append((account.app_id or account.code, config))
    return tenants


class Command(BaseCommand):
    help = "Run the sandbox platform standing in for WeChat OA, WeCom, Mini Program and Douyin."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument(
            "--seed-demo", action="store_true", help="Set up tenants for sandbox-mode accounts."
        )

    def handle(self, *args, host: str, port: int, seed_demo: bool, **options):
        server = SandboxServer(host, port)
        if seed_demo:
            for appid, config in demo_tenants():
                try:
                    server.state.configure(appid, config)
                except ValueError as error:  # e.g. a malformed AES key: the rest still works
                    self.stderr.write(f"{appid}: {error}; set up without callbacks")
                    server.state.configure(appid, {**config, "aes_key": "", "callback_url": ""})
                self.stdout.write(f"tenant {appid} ({config['kind']})")
        self.stdout.write(f"Sandbox platform on {server.url} (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()

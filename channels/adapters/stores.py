"""E-commerce stores, offline stores and the website: nothing to call.

Their orders and customers arrive through the public API (`/api/v1/orders/batch`,
`/api/v1/events/batch`, `/api/v1/customers/upsert`) and CSV imports, which name the account
by its code; the adapter only says so.
"""

from channels.adapters.base import Adapter


class StoreAdapter(Adapter):
    """Tmall, JD, Youzan, offline stores, the website: data comes in by API batches and
    imports, nothing goes out."""

    capabilities = frozenset({"orders:batch", "orders:import", "events:batch", "customers:import"})

    def __init__(self, account):
        super().__init__(account)
        self.kind = account.kind

"""Signals higher layers listen to (they may not be imported from here)."""

from django.dispatch import Signal

# Sent inside the merge transaction before rows are moved: (survivor, loser_ids).
# Apps whose rows need more than re-pointing (balances, one-to-one records) merge them here.
customer_merging = Signal()

# Sent when an import row carried tags for a customer: (customer, tags, source_ref, actor).
# Validation errors raised by a receiver make the row fail.
customer_imported = Signal()

"""Receivers of the customers layer's signals."""

from tags.models import TagSource


def tag_imported_customer(sender, *, customer, tags, source_ref, actor, **kwargs):
    from tags.services import customer_tags_change

    customer_tags_change(
        customer=customer, add=tags, source=TagSource.IMPORT, source_ref=source_ref, actor=actor
    )

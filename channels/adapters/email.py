"""Email through Django's email backend (SMTP in production, locmem in tests)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid

from channels.adapters.base import Adapter, OutMessage, SendResult
from channels.adapters.shared import failed
from channels.choices import ChannelKind


class EmailAdapter(Adapter):
    """`to` an address, `content` `{"subject", "text", "html"?}`; the sender is the account's
    `options["from_email"]` or DEFAULT_FROM_EMAIL. One connection for the batch, one result
    per message (its Message-ID as the platform id)."""

    kind = ChannelKind.EMAIL
    capabilities = frozenset({"send"})

    def send(self, batch: list[OutMessage]) -> list[SendResult]:
        sender = self.account.options.get("from_email") or settings.DEFAULT_FROM_EMAIL
        results = []
        with get_connection() as connection:
            for message in batch:
                message_id = make_msgid(domain=sender.rpartition("@")[2] or None)
                email = EmailMultiAlternatives(
                    subject=message.content.get("subject", ""),
                    body=message.content.get("text", ""),
                    from_email=sender,
                    to=[message.to],
                    headers={"Message-ID": message_id, "X-Quanyu-Delivery": message.key},
                    connection=connection,
                )
                if message.content.get("html"):
                    email.attach_alternative(message.content["html"], "text/html")
                try:
                    email.send()
                except OSError as exc:  # SMTP errors are OSErrors
                    results.append(failed(message, str(exc) or type(exc).__name__))
                else:
                    results.append(SendResult(key=message.key, ok=True, platform_id=message_id))
        return results

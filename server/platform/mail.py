"""Outgoing email over SMTP, off the event loop. Only the worker sends; requests never wait on a relay."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from types import MappingProxyType

from server.settings import Settings

#: no extra headers; read-only, so the shared default cannot be changed by a caller
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class MailNotConfigured(RuntimeError):
    """harvest.toml names no SMTP relay."""


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.config = settings.config.email
        self.password = settings.secrets.email.smtp_password

    @property
    def configured(self) -> bool:
        return bool(self.config.smtp_host)

    async def send(self, to: str, subject: str, text: str, headers: Mapping[str, str] = _NO_HEADERS) -> None:
        """Send one plain-text email; ``headers`` adds to From/To/Subject (a digest's List-Unsubscribe pair)."""
        if not self.configured:
            raise MailNotConfigured("no SMTP relay configured ([email] smtp_host in harvest.toml)")
        message = EmailMessage()
        message["From"] = self.config.from_address
        message["To"] = to
        message["Subject"] = subject
        for name, value in headers.items():
            message[name] = value
        message.set_content(text)
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.config.smtp_host, self.config.smtp_port, timeout=20) as smtp:
            if self.config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.config.smtp_username:
                smtp.login(self.config.smtp_username, self.password)
            smtp.send_message(message)

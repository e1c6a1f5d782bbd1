"""Account emails, sent by the worker: the token is made here, so no secret ever waits in a queue."""

from __future__ import annotations

import logging
import uuid

from server import settings as settings_module
from server.auth.service import issue_email_token
from server.auth.tables import User
from server.platform.events import Job
from server.platform.mail import Mailer

log = logging.getLogger("harvest.auth.email")

_MESSAGES = {
    "verify": (
        "Confirm your email for Harvest",
        "verify-email",
        "Hi {name},\n\nConfirm this address by opening the link below (valid for 24 hours):\n\n{link}\n",
    ),
    "reset": (
        "Reset your Harvest password",
        "reset-password",
        "Hi {name},\n\nSomeone asked to reset your password. If it was you, open the link below within an hour:\n\n"
        "{link}\n\nIf it wasn't, ignore this email; your password stays as it is.\n",
    ),
}


async def send_account_email(job: Job) -> None:
    if job.payload["userId"] is None:  # a reset asked for an address with no account (see forgot_password)
        return
    settings = settings_module.current()
    mailer = Mailer(settings)
    if not mailer.configured:
        log.warning("email not sent: no SMTP relay configured", extra={"purpose": job.payload["purpose"]})
        return
    user = await User.select(User.email, User.first_name).where(User.id == uuid.UUID(job.payload["userId"])).first()
    if user is None:  # the account was erased before the email went out
        return
    subject, path, body = _MESSAGES[job.payload["purpose"]]
    token = await issue_email_token(uuid.UUID(job.payload["userId"]), job.payload["purpose"])
    link = settings.link(f"{path}?token={token}")
    if settings.config.email.link_base:
        # The app's deep link does nothing where the app is not installed (a laptop): the web page does.
        link += f"\n\nNo app on this device? Open this page instead:\n\n{settings.page_link(f'{path}?token={token}')}"
    await mailer.send(user["email"], subject, body.format(name=user["first_name"], link=link))

"""Every sentence the web pages show, in one place: a translation is another mapping with the same keys.

``{service}`` is the operator's ``[pages] service_name``; ``{min}``/``{max}`` the password length limits.
"""

from __future__ import annotations

from typing import Final

from server.auth.passwords import MAX_LENGTH, MIN_LENGTH

ENGLISH: Final[dict[str, str]] = {
    "lang": "en",
    "landing_title": "{service}",
    "landing_lead": "{service} runs here. Use the app to sign in; this address also opens the links we email you.",
    "privacy_policy": "Privacy policy",
    "terms": "Terms of service",
    "reset_title": "Choose a new password",
    "reset_rules": (
        "Use {min} to {max} characters. A long phrase of a few words works well. "
        "It must not be your email address or one of the most commonly used passwords."
    ),
    "new_password": "New password",
    "repeat_password": "New password, again",
    "passwords_differ": "The two passwords are not the same; type them again.",
    "reset_submit": "Set the password",
    "reset_done_title": "Your password is set",
    "reset_done_body": "Sign in with your new password in the app. Any device that was signed in has been signed out.",
    "verify_title": "Confirm your email address",
    "verify_body": "Press the button to confirm that this address is yours.",
    "verify_submit": "Confirm my address",
    "verified_title": "Your email address is confirmed",
    "verified_body": "Thank you. You can close this page and go back to the app.",
    "link_invalid_title": "This link no longer works",
    "link_invalid_body": "It has been used already, or it has expired. Links in our emails work once and only for a while.",
    "link_invalid_reset": "Ask for a new one: we email a fresh link to the account's address.",
    "email": "Email address",
    "forgot_submit": "Email me a new link",
    "reset_requested_title": "Check your email",
    "reset_requested_body": (
        "If an account uses that address, a new link is on its way. It works once, within an hour. "
        "Nothing arrived? Look in the spam folder, or ask again in a few minutes."
    ),
    "link_invalid_verify": "Sign in to the app and ask for a new confirmation email.",
    "unsubscribe_title": "Stop digest emails",
    "unsubscribe_body": (
        "Press the button to stop the emails that gather your {service} notifications. "
        "You can turn them on again in the app's notification settings."
    ),
    "unsubscribe_submit": "Stop these emails",
    "unsubscribed_title": "You will get no more digest emails",
    "unsubscribed_body": "Notifications you had gathered into the digest are now off. The app still lists them.",
    "unsubscribe_invalid_body": "This unsubscribe link is not complete. Open the link from the latest email again.",
    "error_title": "Something went wrong",
    "error_refused": "This form expired or was not sent from this page. Open the link from your email again.",
    "error_rate_limited": "Too many attempts from your network. Wait a minute and try again.",
    "error_other": "The request could not be completed. Try again in a moment.",
}


def text(service: str, strings: dict[str, str] = ENGLISH) -> dict[str, str]:
    """The strings with the operator's service name and the password limits filled in."""
    return {key: value.format(service=service, min=MIN_LENGTH, max=MAX_LENGTH) for key, value in strings.items()}

"""Password rules (NIST 800-63B: length and a breached-list check, no composition rules) and Argon2id."""

from __future__ import annotations

import asyncio
import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import FieldError

MIN_LENGTH, MAX_LENGTH = 8, 128
#: OWASP's minimum for Argon2id: 19 MiB, two passes, one lane
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so the answer and its timing match a real account's.
_DUMMY_HASH = HASHER.hash("harvest-dummy-password-for-timing")


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords of 8+ characters (from the zxcvbn project's lists, MIT)."""
    return frozenset((Path(__file__).parent / "common-passwords.txt").read_text().split())


def problems(password: str, email: str, field: str = "password") -> list[FieldError]:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return [FieldError(field, f"must be {MIN_LENGTH} to {MAX_LENGTH} characters")]
    if password.lower() in common_passwords():
        return [FieldError(field, "is one of the most common passwords; choose another")]
    if password.strip().lower() == email.strip().lower():
        return [FieldError(field, "must not be the email address")]
    return []


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


async def unusable_hash() -> str:
    """For accounts made without a password (provider sign-in, operator-made admins): nobody knows it."""
    return await hash_password(secrets.token_urlsafe(32))


async def verify(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one uses weaker parameters). Unknown accounts pass ``None``."""

    def check() -> tuple[bool, str | None]:
        try:
            HASHER.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if stored is None:
            return False, None
        return True, HASHER.hash(password) if HASHER.check_needs_rehash(stored) else None

    return await asyncio.to_thread(check)

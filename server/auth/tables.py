"""Accounts, logins (sessions) and their refresh tokens."""

from __future__ import annotations

from piccolo.columns import UUID, Date, ForeignKey, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from server.auth.roles import Role


class User(Table, tablename="users"):
    id = UUID(primary_key=True)
    #: normalised (trimmed, lower-cased) so one address is one account
    email = Varchar(length=254, unique=True)
    #: Argon2id PHC string; parameters travel with it, so they can be raised and rehashed on login
    password_hash = Text()
    first_name = Varchar(length=50)
    #: null only for staff accounts an operator made on the host (`harvestctl users create-admin`)
    date_of_birth = Date(null=True, default=None)
    gender = Varchar(length=16, null=True, default=None)
    #: one of Role, checked by the database
    role = Varchar(length=16, default=Role.USER)
    email_verified_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Session(Table, tablename="auth_sessions"):
    """One login on one device; revoking it ends every token issued under it."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    #: the client's User-Agent, shortened, so a person can recognise their devices
    device = Varchar(length=200, default="")
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class RefreshToken(Table, tablename="refresh_tokens"):
    """Opaque refresh tokens, each usable once; a second use reveals theft and revokes the session."""

    id = UUID(primary_key=True)
    session = ForeignKey(Session, on_delete=OnDelete.cascade, index=True)
    #: SHA-256 of the token; the token itself is never stored
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class EmailToken(Table, tablename="email_tokens"):
    """Single-use tokens sent by email: verify an address, or reset a password."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    #: verify or reset
    purpose = Varchar(length=16)
    #: SHA-256 of the token; the token itself exists only in the email
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)

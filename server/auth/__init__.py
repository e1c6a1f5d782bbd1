"""Accounts and authentication: registration, passwords, tokens and sessions."""

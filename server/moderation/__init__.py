"""Moderation: review queues, decisions with statements of reasons, appeals and the audit log."""

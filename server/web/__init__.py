"""Litestar's cross-cutting parts: error mapping, and later the auth backend, guards and pagination."""

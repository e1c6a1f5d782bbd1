"""Harvest's API server and background worker."""

import os

# Piccolo finds its engine through this variable; every entry point (API, worker, manage, tests) shares it.
os.environ.setdefault("PICCOLO_CONF", "server.piccolo_conf")

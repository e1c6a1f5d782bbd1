"""Operational endpoints: liveness and readiness for nginx, supervisord and harvestctl."""

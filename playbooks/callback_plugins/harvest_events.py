"""Ansible callback: one JSON line per event for ``harvestctl`` on the file descriptor it names.

People still read Ansible's own output (in harvestctl's log file); harvestctl reads these events for its
progress line and its result, so it never parses text meant for people. Lines are UTF-8 JSON objects:
``{"event": "task", "name": ...}`` when a task or handler starts, ``{"event": "failed", "task": ...,
"host": ..., "message": ...}`` when one fails (ignored failures are not sent), and ``{"event": "stats",
"ok": ..., "changed": ..., "failed": ..., "unreachable": ..., "skipped": ...}`` at the end.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: harvest_events
type: aggregate
short_description: JSON event lines for harvestctl
description:
  - Writes one JSON line per task start, task failure and the final recap to the file descriptor in
    HARVEST_EVENTS_FD. Does nothing when that variable is not set.
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED=harvest_events (harvestctl does it)
"""

#: the part of a failure shown to the operator; the whole result is in Ansible's own log
_MESSAGE_LIMIT = 2000


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "harvest_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fd = os.environ.get("HARVEST_EVENTS_FD")
        self._out = os.fdopen(int(fd), "w", encoding="utf-8", buffering=1) if fd else None

    def _emit(self, event: str, **fields: Any) -> None:
        if self._out is not None:
            self._out.write(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str) + "\n")

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._emit("task", name=_task_name(task))

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._emit("task", name=_task_name(task))

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            self._failed(result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._failed(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        totals = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            for name in totals:
                totals[name] += summary.get(name, 0)
        self._emit("stats", **totals)
        if self._out is not None:
            self._out.close()
            self._out = None

    def _failed(self, result: Any) -> None:
        self._emit(
            "failed", task=_task_name(result._task), host=result._host.get_name(), message=_message(result._result)
        )


def _task_name(task: Any) -> str:
    return task.name or task.action


def _message(outcome: dict[str, Any]) -> str:
    """What went wrong, in the result's own words: its message, and the command's error output if any."""
    parts = [str(outcome.get("msg") or "").strip()]
    stderr = str(outcome.get("stderr") or "").strip()
    if stderr and stderr not in parts[0]:
        parts.append(stderr)
    failed_items = [item for item in outcome.get("results", []) if isinstance(item, dict) and item.get("failed")]
    if failed_items and not any(parts):
        parts.append(_message(failed_items[0]))
    return " — ".join(part for part in parts if part)[:_MESSAGE_LIMIT] or "the task failed without a message"

"""The appliance harvestctl acts on: its root, and the server's management verbs run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harvestctl.errors import CliError, Exit
from harvestctl.output import Output

RELEASE = Path(__file__).resolve().parent.parent
ROOT_HINT = "run it as root, e.g. `sudo harvestctl ...`"


@dataclass
class Appliance:
    root: str
    out: Output
    verbose: bool = False
    _cache: dict[str, Any] = field(default_factory=dict)

    def require_root(self, verb: str) -> None:
        if os.geteuid() != 0:
            raise CliError(f"`harvestctl {verb}` must run as root", ROOT_HINT, Exit.NOT_ROOT)

    def manage(self, verb: str, *args: str) -> dict[str, Any]:
        """Run ``python -m server.manage VERB`` for this root and return its JSON answer."""
        argv = [sys.executable, "-m", "server.manage", "--root", self.root, verb, *args]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=RELEASE, check=False)
        if done.returncode == 2:
            reason = done.stderr.strip()
            hint = (
                ""
                if "harvestctl up" in reason
                else "fix that key in harvest.toml; `harvestctl config validate` checks it"
            )
            raise CliError(reason, hint, Exit.BAD_CONFIG)
        if done.returncode == 4:
            raise CliError(done.stderr.strip(), "check the arguments (see the verb's --help)", Exit.BAD_USAGE)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CliError(f"{verb} failed: {reason}", "run `harvestctl doctor` to see which part is down")
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    @cached_property
    def description(self) -> dict[str, Any]:
        """Resolved configuration, layout and host facts (no secrets)."""
        return self.manage("describe")

    @property
    def layout(self) -> dict[str, str]:
        layout: dict[str, str] = self.description["layout"]
        return layout

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.description["config"]
        return config

    def https_url(self, path: str = "") -> str:
        """The API through nginx, as seen from this host."""
        server = self.config["server"]
        host = "127.0.0.1" if server["listen"] in ("0.0.0.0", "::") else server["listen"]  # noqa: S104 - reads the setting
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{server['https_port']}{path}"

"""Median forgot-password answer times for existing and missing accounts, on a real stack.

Run as root from the repository: ``.venv/bin/python -m tests.integration.auth.measure_forgot_password [rounds]``.
Requests alternate between the two kinds, each to a fresh address and email, so no limit interferes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
import uuid

import httpx

from tests.services import running_stack


async def measure(rounds: int) -> dict[str, list[float]]:
    from server.app import create_app
    from server.auth import passwords
    from server.auth.tables import User

    app = create_app()
    async with app.lifespan():
        password_hash = await passwords.hash_password("a passphrase nobody types")
        existing = [f"exists.{uuid.uuid4().hex[:10]}@example.com" for _ in range(rounds)]
        now = dt.datetime.now(dt.UTC)
        await User.insert(
            *(
                User(id=uuid.uuid4(), email=e, password_hash=password_hash, first_name="T", created_at=now)
                for e in existing
            )
        )
        times: dict[str, list[float]] = {"existing": [], "missing": []}
        for n in range(rounds * 2):
            kind = "existing" if n % 2 == 0 else "missing"
            email = existing[n // 2] if kind == "existing" else f"missing.{uuid.uuid4().hex[:10]}@example.com"
            transport = httpx.ASGITransport(app=app, client=(f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                started = time.perf_counter()
                response = await client.post("/api/auth/forgot-password", json={"email": email})
                times[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.text
        return times


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with running_stack() as stack:
        os.environ["HARVEST_ROOT"] = str(stack.root)
        subprocess.run([sys.executable, "-m", "server.manage", "migrate"], check=True, capture_output=True)
        times = asyncio.run(measure(rounds))
    for kind, values in times.items():
        print(f"{kind:>8}: median {statistics.median(values):.2f} ms over {len(values)} requests")


if __name__ == "__main__":
    main()

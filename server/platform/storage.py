"""S3-compatible object storage through the minio SDK, kept off the event loop."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from typing import Literal

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from server.settings import Settings

Purpose = Literal["originals", "media"]
PURPOSES: tuple[Purpose, ...] = ("originals", "media")


class Storage:
    """The buckets Harvest uses and the calls made on them; every bucket is private."""

    def __init__(self, settings: Settings) -> None:
        endpoint, secure = settings.s3_endpoint()
        self.region = settings.config.storage.region
        self.buckets = {purpose: settings.bucket(purpose) for purpose in PURPOSES}
        self.client = Minio(
            endpoint,
            access_key=settings.secrets.s3.access_key,
            secret_key=settings.secrets.s3.secret_key,
            secure=secure,
            region=self.region,
            # A short connect timeout so /ready and start-up notice a dead endpoint quickly.
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=2, read=60),
                retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
                maxsize=16,
            ),
        )

    def ensure_buckets(self) -> list[str]:
        """Create missing buckets (blocking; for start-up and provisioning). Returns the ones created."""
        created = []
        for name in self.buckets.values():
            if not self.client.bucket_exists(name):
                self.client.make_bucket(name, location=self.region)
                created.append(name)
        return created

    async def ping(self, timeout: float = 3.0) -> None:
        """Prove the endpoint answers with our credentials and the buckets exist."""
        async with asyncio.timeout(timeout):
            for name in self.buckets.values():
                if not await asyncio.to_thread(self.client.bucket_exists, name):
                    raise LookupError(f"bucket {name} is missing")

    async def put(self, purpose: Purpose, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, self.buckets[purpose], key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def get(self, purpose: Purpose, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""

        def read() -> bytes | None:
            try:
                response = self.client.get_object(self.buckets[purpose], key)
            except S3Error as exc:
                if exc.code == "NoSuchKey":
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def remove(self, purpose: Purpose, keys: Iterable[str]) -> None:
        """Delete objects; missing ones are not an error, so a retried removal is harmless."""

        def remove_all() -> None:
            errors = list(self.client.remove_objects(self.buckets[purpose], [DeleteObject(k) for k in keys]))
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} object(s): {errors[0].message}")

        await asyncio.to_thread(remove_all)

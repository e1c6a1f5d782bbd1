"""The embedded SeaweedFS as the appliance runs it: only the authenticated S3 gateway reaches the objects."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

from server.platform.storage import Storage
from tests.services import Stack


def _refused(url: str, data: bytes | None = None) -> int:
    """The HTTP status a local process without credentials gets (the test fails on any 2xx or 3xx)."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raise AssertionError(f"{url} answered {response.status}: {response.read(200)!r}")
    except urllib.error.HTTPError as refusal:
        return refusal.code


def test_master_and_volume_server_refuse_a_local_process_without_credentials(stack: Stack, storage: Storage):
    weed = stack.settings.config.seaweedfs
    master, volume = f"http://127.0.0.1:{weed.master_port}", f"http://127.0.0.1:{weed.volume_port}"
    # Something is stored, so there are volumes a lookup could name.
    storage.client.put_object(stack.settings.bucket("originals"), "probe.bin", io.BytesIO(b"secret"), 6)
    for path in ("/vol/status", "/dir/status", "/dir/lookup?volumeId=1", "/dir/assign", "/col/delete?collection=x"):
        assert _refused(master + path) == 404, path
    assert _refused(f"{volume}/1,01637037d6") == 401
    assert _refused(f"{volume}/1,01637037d6", data=b"overwritten") == 401
    stored = storage.client.get_object(stack.settings.bucket("originals"), "probe.bin")
    assert stored.read() == b"secret", "the S3 gateway still reads and writes"

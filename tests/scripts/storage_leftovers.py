"""A storage area whose offloaded create writes its file, then times out or dies
(tests/integration/test_fail_closed.py): what it wrote must not stay behind.

An instance whose bytes hold ``SLOW-CREATE`` makes create sleep past its timeout
after writing; ``DIE-IN-CREATE`` makes its worker exit after writing.
"""

import os
import time
from pathlib import Path

from runtime import StorageArea, offload, sdk, storage_area


class Files(StorageArea):
    def path(self, uuid: str, content_type: int) -> Path:
        return Path(sdk.configuration()["StorageAreaTestFolder"]) / f"{uuid}.{content_type}"

    @offload(timeout=1)
    def create(self, uuid: str, content_type: int, data: bytes) -> None:
        self.path(uuid, content_type).write_bytes(data)
        if b"SLOW-CREATE" in data:
            time.sleep(30)
        if b"DIE-IN-CREATE" in data:
            os._exit(9)

    def read(self, uuid: str, content_type: int) -> bytes:
        return self.path(uuid, content_type).read_bytes()

    def remove(self, uuid: str, content_type: int) -> None:
        self.path(uuid, content_type).unlink()


storage_area(Files())

"""A storage area in Python: files in a folder of its own layout (tests/integration/test_storage_area.py).

The folder comes from the configuration's "StorageAreaTestFolder"; a file named
"refuse" in it makes every write fail, as a full disk would.
"""

import os
from pathlib import Path

from runtime import StorageArea, sdk, storage_area


class Folder(StorageArea):
    def __init__(self) -> None:
        self.root: Path | None = None

    def path(self, uuid: str, content_type: int) -> Path:
        if self.root is None:
            self.root = Path(sdk.configuration()["StorageAreaTestFolder"])
        return self.root / str(content_type) / uuid[:2] / uuid

    def create(self, uuid: str, content_type: int, data: bytes) -> None:
        path = self.path(uuid, content_type)
        if (path.parents[2] / "refuse").exists():
            raise OSError("the disk is full (the test says so)")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        os.replace(partial, path)  # nothing half-written under the final name

    def read(self, uuid: str, content_type: int) -> bytes:
        return self.path(uuid, content_type).read_bytes()

    def remove(self, uuid: str, content_type: int) -> None:
        self.path(uuid, content_type).unlink(missing_ok=True)


storage_area(Folder())

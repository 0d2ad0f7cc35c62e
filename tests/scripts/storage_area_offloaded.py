"""A storage area that compresses in a worker (tests/integration/test_storage_area.py).

Files go to the configuration's "StorageAreaTestFolder", zlib-compressed; beside each, a
".pid" file says which process wrote it.
"""

import os
import zlib
from pathlib import Path

from runtime import StorageArea, offload, sdk, storage_area


class Compressed(StorageArea):
    def path(self, uuid: str, content_type: int) -> Path:
        return Path(sdk.configuration()["StorageAreaTestFolder"]) / f"{uuid}.{content_type}.z"

    @offload
    def create(self, uuid: str, content_type: int, data: bytes) -> None:
        path = self.path(uuid, content_type)
        partial = path.with_suffix(".partial")
        partial.write_bytes(zlib.compress(data, 6))
        os.replace(partial, path)
        path.with_suffix(".pid").write_text(str(os.getpid()))

    @offload
    def read(self, uuid: str, content_type: int) -> bytes:
        return zlib.decompress(self.path(uuid, content_type).read_bytes())

    def remove(self, uuid: str, content_type: int) -> None:
        path = self.path(uuid, content_type)
        path.unlink(missing_ok=True)
        path.with_suffix(".pid").unlink(missing_ok=True)


storage_area(Compressed())

"""P12, ours: ``stored_work.record`` in an offloaded ``@on_stored_instance`` handler (a worker
gets the instance's bytes with its event)."""

from typing import Any

import stored_work
from ours_stored_folder import folder

from runtime import offload, on_stored_instance


@on_stored_instance
@offload
def stored_offloaded(instance: Any) -> None:
    stored_work.record(folder(), instance.id, instance.data)

"""P12, ours: an offloaded ``@on_stored_instance`` handler that records each instance without
the work (``stored_work.record(..., work=False)``): what the event path alone costs."""

from typing import Any

import stored_work
from ours_stored_folder import folder

from runtime import offload, on_stored_instance


@on_stored_instance
@offload
def stored_noop(instance: Any) -> None:
    stored_work.record(folder(), instance.id, instance.data, work=False)

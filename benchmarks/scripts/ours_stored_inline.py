"""P12, ours: ``stored_work.record`` in an inline ``@on_stored_instance`` handler (the master's
interpreter, on the handler's own thread)."""

from typing import Any

import stored_work
from ours_stored_folder import folder

from runtime import on_stored_instance


@on_stored_instance
def stored_inline(instance: Any) -> None:
    stored_work.record(folder(), instance.id, instance.data)

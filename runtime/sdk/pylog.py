"""Python's ``logging`` into Orthanc's log, in the master and in every worker.

    logging.getLogger("mine").warning("...")   (a handler, master or worker)
        --> OrthancLogHandler on the root logger
            "[handler=checksum req=3f9a-17] mine: ..."  (runtime.context.prefix)
            master, Orthanc >= 1.12.4: LogMessage(plugin "orthanc-runtime", category PLUGINS,
                                       the record's file and line)
            master, older Orthanc:     LogInfo / LogWarning / LogError
            worker, in a task:         the same calls, batched to the master (runtime.sdk.transport)
            worker, outside a task:    the worker's stderr (Orthanc's), as transport does

Levels: DEBUG and INFO go to Orthanc's INFO, WARNING to WARNING, ERROR and
CRITICAL to ERROR. The root logger's level, when the script has not set it,
follows Orthanc's verbosity read from its command line: ``--verbose`` INFO,
``--trace`` DEBUG, else WARNING (Python's default), so that a quiet Orthanc is
not sent what it would drop. A logger's own level is the script's to set.

The handler is on the root logger, so ``logging.basicConfig()`` adds nothing
(pass ``force=True`` to replace it); ``print`` and ``sys.stderr`` are untouched.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from runtime import context
from runtime.sdk import transport

PLUGIN_NAME = "orthanc-runtime"
"""What Orthanc >= 1.12.4 prints as the plugin of a line (OrthancPluginGetName's)."""

CATEGORY_PLUGINS = 2
"""OrthancPluginLogCategory_Plugins: the category of the script's lines on Orthanc >= 1.12.4."""

LEVEL_VARIABLE = "ORTHANC_RUNTIME_LOG_LEVEL"
"""The root level the master chose, for its workers (they inherit its environment), and
``+categories`` when Orthanc takes LogMessage."""

_CALLS = ((logging.ERROR, "LogError", 0), (logging.WARNING, "LogWarning", 1),
          (logging.NOTSET, "LogInfo", 2))  # (from level, plain call, OrthancPluginLogLevel)


def _call_of(levelno: int) -> tuple[str, int]:
    """The plain SDK call and the OrthancPluginLogLevel of a record's level."""
    for floor, name, level in _CALLS:
        if levelno >= floor:
            return name, level
    return "LogInfo", 2


class OrthancLogHandler(logging.Handler):
    """Writes each record to Orthanc's log with the running handler's name and request id."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.categories = False  # LogMessage (Orthanc >= 1.12.4 and an SDK that has it)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.name != "root":
                text = f"{record.name}: {text}"
            text = context.prefix() + text
            name, level = _call_of(record.levelno)
            if self.categories and transport.reaches_orthanc():
                try:
                    transport.call("LogMessage", text, PLUGIN_NAME, record.pathname or "",
                                   record.lineno or 0, CATEGORY_PLUGINS, level)
                    return
                except Exception:
                    self.categories = False  # the SDK refuses it: the plain calls from now on
            transport.call(name, text)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def _installed() -> OrthancLogHandler | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, OrthancLogHandler):
            return handler
    return None


def install(level: int | None = None, *, categories: bool = False) -> OrthancLogHandler:
    """Puts the handler on the root logger (once a process); sets the root's ``level`` if given
    and the root's level is still Python's default (WARNING)."""
    handler = _installed()
    if handler is None:
        handler = OrthancLogHandler()
        logging.getLogger().addHandler(handler)
    handler.categories = categories
    root = logging.getLogger()
    if level is not None and root.level == logging.WARNING:
        root.setLevel(level)
    return handler


def uninstall() -> None:
    handler = _installed()
    if handler is not None:
        logging.getLogger().removeHandler(handler)


def orthanc_level(arguments: list[str]) -> int:
    """The Python level that Orthanc's command line asks for: ``--trace`` DEBUG, ``--verbose``
    INFO, else WARNING."""
    if any(a == "--trace" or a.startswith("--trace-") for a in arguments):
        return logging.DEBUG
    if any(a == "--verbose" or a.startswith("--verbose-") for a in arguments):
        return logging.INFO
    return logging.WARNING


def install_in_master(native: Any) -> None:
    """At the plugin's start, before the scripts are imported: the handler, the root level from
    Orthanc's command line (also for the workers, by LEVEL_VARIABLE), categories from 1.12.4."""
    try:
        count = int(native.GetCommandLineArgumentsCount())
        arguments = [str(native.GetCommandLineArgument(i)) for i in range(count)]
    except Exception:
        arguments = []
    level = orthanc_level(arguments)
    try:
        # A binding built against an older SDK header refuses LogMessage at the first line:
        # the handler then falls back to the plain calls.
        categories = bool(native.orthanc_at_least(1, 12, 4))
    except Exception:
        categories = False
    os.environ[LEVEL_VARIABLE] = logging.getLevelName(level) + ("+categories" if categories else "")
    install(level, categories=categories)


def install_in_worker() -> None:
    """In a worker (runtime.worker): the handler, the master's root level and categories."""
    name, _, categories = os.environ.get(LEVEL_VARIABLE, "WARNING").partition("+")
    level = logging.getLevelName(name)
    install(level if isinstance(level, int) else logging.WARNING, categories=bool(categories))

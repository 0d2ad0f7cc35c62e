"""Start and stop of the plugin, called by the native code (plugin.cpp).

start() validates the configuration and makes the session (runtime.plugin.session),
the one owner of what this start holds; the session imports the user script as a
module named after its file (runtime.plugin.scripts), then registers, in one place,
everything the script recorded. stop() closes the session: the on-change queue and
the pool drain within ShutdownGrace. Both a stop and a failed start end the processes
the script left running (runtime.plugin.leftovers), since Orthanc calls no stop()
after a failed start.
"""

from __future__ import annotations

import json
import sys

from runtime import compat
from runtime.configuration import ConfigurationError, resolve, settings
from runtime.plugin import leftovers
from runtime.plugin.scripts import (
    ModuleNameClash,
    check_module_name,
    import_script,
    keep_fork_as_default_start_method,
    script_path,
)
from runtime.plugin.session import Session, counted, log
from runtime.sdk import pylog, telemetry, transport

__all__ = ["ModuleNameClash", "Session", "check_module_name", "current", "import_script",
           "start", "stop"]

_session: Session | None = None


def current() -> Session | None:
    """The session of the running start, None outside one."""
    return _session


def start(configuration_json: str, configuration_path: str, orthanc_version: str) -> bool:
    global _session
    import _orthanc_native as native

    transport.set_native(native)
    try:
        section = resolve(json.loads(configuration_json))
    except ConfigurationError as error:
        for problem in error.problems:
            log("error", f"invalid configuration at {problem.path}: {problem.message}")
        log("error", "refusing to start; see config.schema.json for every setting")
        return False
    settings.install(section)
    pylog.install_in_master(native)  # before the scripts: their logging goes to Orthanc's log
    tracing_off = telemetry.configure(section)
    if tracing_off is not None:
        log("warning", f"orthanc-runtime: {tracing_off}")
    sys.modules["orthanc"] = compat
    if section.get("Reload"):
        sys.dont_write_bytecode = True  # an edit within the second must not hit a stale .pyc
    session = Session(section, native).activate()
    # The scripts' ExtendOrthancExplorer calls add to the page's button (operator_page).
    transport.set_native(session.explorer.native_view())
    keep_fork_as_default_start_method()
    leftovers.on_start()
    scripts = [script_path(script, configuration_path) for script in
               [*([section["Script"]] if "Script" in section else []), *section.get("Scripts", [])]]
    try:
        session.import_scripts(scripts)
    except BaseException as error:  # SystemExit in a script must not take Orthanc down either
        import traceback

        log("error", f"cannot load {session.importing}:\n"
            + "".join(traceback.format_exception(error)))
        session.abort()
        return False
    try:
        session.register_with_orthanc()
        session.start_services(configuration_path)
    except Exception as error:
        import traceback

        log("error", "cannot register the script's handlers:\n"
            + "".join(traceback.format_exception(error)))
        session.abort()
        return False
    _session = session
    handlers = session.registry
    log("info" if section.get("Verbose") else "warning",
        f"loaded {', '.join(session.modules)} ({counted(handlers)}) in Orthanc "
        f"{orthanc_version}, Python {sys.version.split()[0]} from {sys.executable}")
    return True


def stop() -> None:
    """Stops the runtime, not the interpreter: Orthanc may start the plugin again (/tools/reset).

    The script and recipe modules are forgotten, so that a new start imports
    them afresh and registers their handlers again.
    """
    global _session
    session, _session = _session, None
    try:
        if session is not None:
            session.close()
    finally:
        pylog.uninstall()
        telemetry.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass

"""Start and stop of the plugin, called by the native code (plugin.cpp).

start() validates the configuration, imports the user script as a module
named after its file (its folder on sys.path), then registers, in this one
place, everything the script recorded; stop() drains the on-change queue
and the pool within ShutdownGrace. Both a stop and a failed start end the
processes the script left running (runtime.plugin.leftovers), since Orthanc calls
no stop() after a failed start.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from runtime import compat, jobs
from runtime.backends import executor
from runtime.callbacks import changes, dicom, gates, rest, status
from runtime.configuration import ConfigurationError, resolve, settings
from runtime.enums import ChangeType
from runtime.plugin import leftovers, reload
from runtime.registry import Registry, invoke, registry
from runtime.sdk import logs, transport

STATUS_ROUTE = "/runtime/status"
RECIPES_GROUP = "orthanc_runtime.recipes"

# The modules start() imported (the script, the enabled recipes).
_loaded: list[str] = []


class _Session:
    """What a reload needs of the last start."""

    section: dict[str, Any] = {}
    scripts: list[Path] = []
    recipes: list[str] = []
    native: Any = None
    registered: set[str] = set()  # route regexes registered with Orthanc: for good
    watcher: reload.Watcher | None = None


def _log(level: str, message: str) -> None:
    logs.write(level, f"orthanc-runtime: {message}")


def _warn(message: str) -> None:
    _log("warning", message)


def script_path(script: str, configuration_path: str) -> Path:
    """A relative script path is taken relative to the configuration file's folder."""
    path = Path(script)
    if path.is_absolute() or not configuration_path:
        return path
    base = Path(configuration_path)
    if not base.is_dir():
        base = base.parent
    return base / path


# The modules the runtime itself imports by these names: a script of the same name
# would replace them (a script named pool.py broke every offloaded handler).
RESERVED_MODULES = frozenset({"runtime", "pool", "recipes", "orthanc", "orthanc_native",
                              "_orthanc_native"})


class ModuleNameClash(ImportError):
    """The script's file name would shadow a module the runtime or Python needs."""


def check_module_name(name: str, path: Path) -> None:
    """Refuses a script whose module name is taken: by the runtime, the standard library,
    or an installed package (the script's folder goes first on ``sys.path``)."""
    taken = None
    if name in RESERVED_MODULES:
        taken = "orthanc-runtime"
    elif name in sys.stdlib_module_names:
        taken = "Python's standard library"
    else:
        existing = sys.modules.get(name)
        origin = getattr(existing, "__file__", None) if existing is not None else None
        if existing is None:
            if not name.isidentifier():
                return  # "changes-deadlock-3.0": no installed module has such a name
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            if spec is None:
                return
        if origin is not None and Path(origin).resolve() == path.resolve():
            return
        taken = f"the installed module {origin or name}"
    raise ModuleNameClash(
        f"the script {path} would be imported as the module {name!r}, which is taken by "
        f"{taken}; rename the file (the names of orthanc-runtime's own modules are: "
        f"{', '.join(sorted(RESERVED_MODULES))})")


def keep_fork_as_default_start_method() -> None:
    """Python 3.14 made ``forkserver`` the default start method on Linux; inside Orthanc
    a script's own ``multiprocessing.Pool()`` keeps ``fork``, the default up to 3.13.

    A script is a module imported by name, never ``__main__``: a forkserver (or spawn)
    child that unpickles one of its functions imports the script again and runs its top
    level, so the seed's module-level ``POOL = multiprocessing.Pool(4)`` runs again in a
    daemonic child, which fails, and the pool replaces that child for ever. A forked
    child inherits the script as it is. A script that chose a start method keeps it; the
    ``@offload`` pool uses its own forkserver context whatever the default.
    """
    if sys.version_info >= (3, 14) and multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("fork")


def import_script(path: Path) -> str:
    """Imports the script as a module named after its file; returns that name."""
    if path.suffix != ".py":
        raise ValueError(f"the script must be a .py file: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"the script {path} does not exist")
    name = path.stem
    check_module_name(name, path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: handlers pickle by reference
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return name


def enabled_recipes(section: dict[str, Any], scripts: list[Path]) -> list[tuple[str, str]]:
    """(name, module) of each recipe enabled in ``Recipes``, found by its entry point.

    A recipe that is itself the script is not imported twice.
    """
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=RECIPES_GROUP)}
    result = []
    for name, recipe in section.get("Recipes", {}).items():
        if not recipe.get("Enabled"):
            continue
        if name not in found:
            raise LookupError(f"no recipe named {name} is installed (known: {sorted(found)})")
        spec = importlib.util.find_spec(found[name])
        if spec is not None and spec.origin and \
                any(Path(spec.origin).resolve() == script.resolve() for script in scripts):
            continue
        result.append((name, found[name]))
    return result


def _on_change(change_type: int, level: int, resource_id: str | None) -> None:
    try:
        if change_type == ChangeType.ORTHANC_STOPPED:
            # rest.on_change holds Orthanc's stop for the requests in flight,
            # for ShutdownGrace; a task still running then must end just before,
            # so that its request answers while Orthanc's HTTP server still can.
            jobs.orthanc_stopping()
            executor.orthanc_stopping(settings.shutdown_grace())
            # So is a child process that a request or a handler waits for (leftovers.py).
            leftovers.watch_waits_by(time.monotonic() + settings.shutdown_grace(), _warn)
    finally:
        rest.on_change(change_type, level, resource_id)


def bind_handlers(handlers: Registry) -> None:
    """Gives every recorded handler its invoker (runtime.registry.invoke), once: at start, and
    for the handlers a reload brings."""
    rest.bind(handlers)
    changes.bind(handlers)
    gates.bind(handlers)
    dicom.bind(handlers)


def register_with_orthanc(native: Any) -> None:
    """The one place where the recorded handlers reach Orthanc."""
    registry.add_route(STATUS_ROUTE, status.status_route, ["GET"])
    registry.frozen = True
    bind_handlers(registry)
    _Session.registered = set()
    native.set_hooks(rest.on_rest, _on_change, rest.on_stored_instance,
                     status.refresh_metrics)
    for route in registry.routes:
        native.register_rest_route(route.pattern.regex)
        _Session.registered.add(route.pattern.regex)
    native.register_on_change()
    if changes.wants_ingest(registry):
        native.register_on_stored_instance()
    native.register_refresh_metrics()
    gates.install(native)
    dicom.install(native)
    native.set_job_unserializer(jobs.unserialize)
    native.register_jobs_unserializer()


def start(configuration_json: str, configuration_path: str, orthanc_version: str) -> bool:
    import _orthanc_native as native

    transport.set_native(native)
    registry.clear()
    try:
        section = resolve(json.loads(configuration_json))
    except ConfigurationError as error:
        for problem in error.problems:
            _log("error", f"invalid configuration at {problem.path}: {problem.message}")
        _log("error", "refusing to start; see config.schema.json for every setting")
        return False
    settings.install(section)
    sys.modules["orthanc"] = compat
    if section.get("Reload"):
        sys.dont_write_bytecode = True  # an edit within the second must not hit a stale .pyc
    verbose = bool(section.get("Verbose"))

    keep_fork_as_default_start_method()
    leftovers.on_start()
    modules: list[str] = []
    path: Path | str = "no script"
    scripts = [script_path(script, configuration_path) for script in
               [*([section["Script"]] if "Script" in section else []), *section.get("Scripts", [])]]
    try:
        for path in scripts:
            modules.append(import_script(path))
            _loaded.append(modules[-1])
        for name, module in enabled_recipes(section, scripts):
            path = f"the recipe {name} ({module})"
            _loaded.append(module)
            importlib.import_module(module)
            modules.append(module)
    except BaseException as error:  # SystemExit in a script must not take Orthanc down either
        import traceback

        text = "".join(traceback.format_exception(error))
        _log("error", f"cannot load {path}:\n{text}")
        _end_leftovers([])
        return False

    try:
        register_with_orthanc(native)
        if registry.has_offloaded():
            odd = [m for m in modules if not all(p.isidentifier() for p in m.split("."))]
            if odd:
                raise ModuleNameClash(
                    f"the script(s) {', '.join(odd)} have offloaded handlers, which workers find "
                    "by module name: rename the file to a Python module name (letters, digits, "
                    "underscores)")
            offload = executor.start(section, modules, fresh=bool(section.get("Reload")))
            offload.add_master_functions(jobs.master_functions())
            if verbose:
                _log("info", f"{offload.name} pool started: {offload.status()['workers']}")
        changes.hub.start()
        jobs.start()
        _Session.section, _Session.scripts, _Session.native = section, scripts, native
        _Session.recipes = [m for m in modules if m not in {p.stem for p in scripts}]
        if section.get("Reload"):
            # Routes that a reload adds are registered while Orthanc serves requests:
            # the gate lets that registration find Orthanc's routes lock free.
            native.install_route_gate()
            _Session.watcher = reload.Watcher(
                scripts, Path(configuration_path) if configuration_path else None,
                _reload_scripts, _reload_configuration)
            _Session.watcher.start()
            _log("warning", "reload on save is on (a development setting): watching "
                 + ", ".join(str(p) for p in _Session.watcher.watched()))
    except Exception as error:
        import traceback

        _log("error", "cannot register the script's handlers:\n"
             + "".join(traceback.format_exception(error)))
        try:
            executor.shutdown(0)
        finally:
            _end_leftovers([])
        return False
    _log("info" if verbose else "warning",
         f"loaded {', '.join(modules)} ({len(registry.routes)} route(s), "
         f"{len(registry.change_listeners)} on-change, "
         f"{len(registry.stored_listeners)} on-stored-instance handler(s)) in Orthanc "
         f"{orthanc_version}, Python {sys.version.split()[0]} from {sys.executable}")
    return True


def _end_leftovers(before: list[Any]) -> None:
    """End the processes left below Orthanc's, name the threads left; none holds Orthanc's exit."""
    leftovers.end_processes(before + leftovers.descendants(), lambda line: _log("warning", line))
    threads = leftovers.running_threads()
    if threads:
        _log("warning", f"thread(s) still running: {leftovers.describe_threads(threads)}; "
             "Orthanc will not wait for them when it exits")
    leftovers.do_not_wait_for_threads_at_exit()


def _reload_scripts(changed: list[Path]) -> None:
    """Imports the scripts again and swaps their handlers; on failure, the old ones stay."""
    started = time.monotonic()
    scripts = _Session.scripts
    names = {p.stem for p in scripts}
    saved = {name: sys.modules.get(name) for name in names}
    beside = reload.forget_modules_beside(scripts)
    new = Registry()
    try:
        with registry.recording_into(new):
            for path in scripts:
                import_script(path)
    except BaseException as error:  # the previous handlers stay, whatever the script raised
        for name, module in {**saved, **beside}.items():
            if module is not None:
                sys.modules[name] = module
        import traceback

        _log("error", f"reloading after a change of {', '.join(map(str, changed))} failed; "
             "the previous handlers keep running:\n" + "".join(traceback.format_exception(error)))
        return
    new.keep_from(registry, lambda h: getattr(h.handler, "__module__", None) not in names)
    for route in new.routes:
        if route.pattern.regex not in _Session.registered:
            _Session.native.register_rest_route(route.pattern.regex)
            _Session.registered.add(route.pattern.regex)
    section = _Session.section
    if new.has_offloaded():
        executor.restart(section, [*(p.stem for p in scripts), *_Session.recipes])
    new.frozen = True
    changes.hub.stop(time.monotonic() + settings.shutdown_grace())
    bind_handlers(new)
    registry.take(new)
    changes.hub.start(orthanc_starts=False)
    _log("warning", f"reloaded {', '.join(p.name for p in scripts)} in "
         f"{(time.monotonic() - started) * 1000:.0f} ms ({len(registry.routes)} route(s), "
         f"{len(registry.change_listeners)} on-change, "
         f"{len(registry.stored_listeners)} on-stored-instance handler(s))")


def _reload_configuration(path: Path) -> None:
    """A valid new configuration restarts Orthanc in its process; an invalid one is only logged."""
    from runtime.configuration import check_orthanc_config, load_config_file

    try:
        problems = check_orthanc_config(load_config_file(path))
    except (OSError, ValueError) as error:
        _log("error", f"the configuration {path} changed but cannot be read: {error}")
        return
    if problems:
        for problem in problems:
            _log("error", f"the configuration {path} changed but is invalid at {problem.path}: "
                 f"{problem.message}; nothing reloaded")
        return
    _log("warning", f"the configuration {path} changed: Orthanc restarts (POST /tools/reset)")
    transport.call("RestApiPost", "/tools/reset", b"")


def stop() -> None:
    """Stops the runtime, not the interpreter: Orthanc may start the plugin again (/tools/reset).

    The script and recipe modules are forgotten, so that a new start imports
    them afresh and registers their handlers again.
    """
    if _Session.watcher is not None:
        _Session.watcher.stop()
        _Session.watcher = None
    grace = settings.shutdown_grace()
    # One grace for the whole stop: it began at ORTHANC_STOPPED, if Orthanc said so
    # (not when it restarts its plugins on /tools/reset).
    deadline = rest.shutdown_deadline or time.monotonic() + grace
    rest.shutdown_deadline = None
    # Taken first: a process that the fork server started (the script imported
    # there) is no descendant of Orthanc's any more once the fork server is gone.
    before = leftovers.descendants()
    try:
        if changes.hub.feeds:
            changes.hub.drain(deadline)
            changes.hub.stop(deadline)
        jobs.stop(deadline)
        executor.shutdown(max(0.0, deadline - time.monotonic()))
    finally:
        _end_leftovers(before)
        for name in _loaded:
            sys.modules.pop(name, None)
        _loaded.clear()
        registry.clear()
        invoke.kept.clear()  # the files kept for offloaded handlers' events
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass

"""The one owner of what a start of the plugin holds, from Orthanc's start to its stop.

A :class:`Session` is made by ``runtime.plugin.start()`` and closed by ``stop()``;
Orthanc's ``/tools/reset`` makes a new one. It creates every stateful part and hands
each the parts it works with, so that nothing below reaches for a module global::

    Session
      registry    what the scripts declared (runtime.registry); the active one while
                  the session lives, so that decorators and jobs.submit find it
      executor    the offload backend (runtime.backends.executor)
      kept        the files Orthanc handed at ingest, for offloaded handlers (invoke)
      stats       each handler's requests, errors, latency; the recent errors
                  (runtime.handler_stats)
      binder      how each record runs, counted: Binder(executor, kept, stats)
      cluster     who this server is, which event handlers it runs (several Orthancs
                  on one database: runtime.callbacks.cluster)
      hub         the event feeds and their checkpoints: Hub(registry, executor, kept, cluster)
      rest        the REST callback and the requests in flight: RestApi(registry, binder)
      jobs        Orthanc jobs of @job handlers: Jobs(registry, binder)
      status      /runtime/status, /runtime/metrics and Orthanc's metrics:
                  Status(registry, executor, hub, cluster, stats, errors)
      explorer    Orthanc Explorer's script: the operator page's button (/runtime/ui) and
                  the scripts' ExtendOrthancExplorer calls

A reload of the scripts keeps the session: it records into a new registry, then the
session's registry takes the new handlers whole (``Registry.take``), so that every part
above sees them. Tests make a Session of their own (``activate()`` it for decorators to
record into it) instead of resetting globals.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

from runtime import answers
from runtime import jobs as jobs_module
from runtime.backends import fast_lane
from runtime.backends.executor import Executor
from runtime.callbacks import changes, dicom, gates, operator_page, rest
from runtime.callbacks.cluster import Cluster
from runtime.callbacks.status import METRICS_ROUTE, Status
from runtime.configuration import settings
from runtime.enums import ChangeType
from runtime.handler_stats import HandlerStats, RecentErrors
from runtime.plugin import leftovers, reload
from runtime.plugin.scripts import ModuleNameClash, enabled_recipes, import_script
from runtime.registry import Registry, Route, activate
from runtime.registry.invoke import Binder, KeptBytes
from runtime.sdk import logs, transport

STATUS_ROUTE = "/runtime/status"


def counted(handlers: Registry) -> str:
    """What the start and reload lines say of the handlers: the scripts' routes apart from the
    runtime's own (its status, metrics and operator page)."""
    own = 0
    for route in handlers.routes:
        names = [h.name for h in route.by_method.values()]
        names += [route.any_method.name] if route.any_method is not None else []
        own += all(name.startswith("runtime.") for name in names)
    return (f"{len(handlers.routes) - own} route(s) and {own} of the runtime's own, "
            f"{len(handlers.change_listeners)} on-change, "
            f"{len(handlers.stored_listeners)} on-stored-instance handler(s)")


def log(level: str, message: str) -> None:
    logs.write(level, f"orthanc-runtime: {message}")


class Session:
    """Everything one start of the plugin holds (see the module's docstring)."""

    def __init__(self, section: dict[str, Any] | None = None, native: Any = None) -> None:
        self.section: dict[str, Any] = section or {}
        self.native = native
        self.explorer = operator_page.ExplorerExtensions(native)
        self.registry = Registry()
        self.executor = Executor()
        self.kept = KeptBytes()
        self.stats = HandlerStats()
        self.errors = RecentErrors()
        self.binder = Binder(self.executor, self.kept, self.stats)
        self.cluster = Cluster(self.section)
        self.hub = changes.Hub(self.registry, self.executor, self.kept, self.cluster)
        self.rest = rest.RestApi(self.registry, self.binder)
        self.jobs = jobs_module.Jobs(self.registry, self.binder)
        self.status = Status(self.registry, self.executor, self.hub, self.cluster,
                             stats=self.stats, errors=self.errors)
        self.scripts: list[Path] = []
        self.modules: list[str] = []  # what was imported: the scripts, the enabled recipes
        self.recipes: list[str] = []
        self.registered: set[str] = set()  # route regexes registered with Orthanc: for good
        self.watcher: reload.Watcher | None = None
        self.importing = "no script"
        self.shutdown_deadline: float | None = None  # once Orthanc said ORTHANC_STOPPED

    # -- the parts that code without the session in hand reaches --

    def activate(self) -> Session:
        """Declarations go to this session's registry; ``jobs.submit`` adds to its jobs."""
        activate(self.registry)
        jobs_module.activate(self.jobs)
        answers.keep_errors_in(self.errors)
        return self

    def deactivate(self) -> None:
        activate(None)
        jobs_module.activate(None)
        answers.keep_errors_in(None)

    def __enter__(self) -> Session:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    # -- start --

    def import_scripts(self, scripts: list[Path]) -> None:
        """Imports the scripts, then the recipes the configuration enables; the names of what
        was imported are in ``modules`` (forgotten again at close), ``importing`` says what
        was being imported when one of them fails."""
        self.scripts = scripts
        for path in scripts:
            self.importing = str(path)
            self.modules.append(import_script(path))
        for name, module in enabled_recipes(self.section, scripts):
            self.importing = f"the recipe {name} ({module})"
            self.modules.append(module)
            importlib.import_module(module)
        self.recipes = [m for m in self.modules if m not in {p.stem for p in scripts}]

    def bind(self, handlers: Registry) -> None:
        """Gives every recorded handler its invoker (runtime.registry.invoke), once: at start,
        and for the handlers a reload brings."""
        rest.bind(handlers, self.binder)
        changes.bind(handlers, self.binder, self.cluster)
        gates.bind(handlers, self.binder)
        dicom.bind(handlers, self.binder)
        self.jobs.bind(handlers)

    def register_with_orthanc(self) -> None:
        """The one place where the recorded handlers reach Orthanc."""
        native, handlers = self.native, self.registry
        handlers.add_route(STATUS_ROUTE, self.status.route, ["GET"])
        handlers.add_route(METRICS_ROUTE, self.status.metrics_route, ["GET"])
        operator_page.add_routes(handlers)
        handlers.frozen = True
        self.cluster.resolve()
        self.cluster.check_patterns(changes.from_the_log(handlers))
        self.bind(handlers)
        native.set_hooks(self.rest.on_rest, self.on_change, self.hub.on_stored_instance,
                         self.status.refresh_metrics)
        fast = "Pool" in self.section and fast_lane.enabled(self.section) and \
            self.registry.has_offloaded()
        timeout = self.section.get("Pool", {}).get("TaskTimeout", 30)
        for route in handlers.routes:
            methods = fast_lane.fast_methods(route, timeout, self.stats) if fast else {}
            if not (methods and native.register_fast_route(route.pattern.regex, methods)):
                self.register_route(route.pattern.regex, self.rest.serve_of(route))
            self.registered.add(route.pattern.regex)
        native.register_on_change()
        if changes.wants_ingest(handlers):
            native.register_on_stored_instance()
        native.register_refresh_metrics()
        gates.install(native, handlers)
        dicom.install(native, handlers)
        self.explorer.install()  # the page's button, and what the scripts added
        native.set_job_unserializer(self.jobs.unserialize)
        native.register_jobs_unserializer()

    def register_route(self, regex: str, serve: Any) -> None:
        """A route on a native callback of its own that calls ``serve`` (RestApi.serve_of;
        None: through on_rest until a reload gives it one), or through on_rest when no such
        callback is left."""
        if not self.native.register_inline_route(regex, serve):
            self.native.register_rest_route(regex)

    def serve_inline_routes(self) -> None:
        """After a reload bound the new handlers: each inline callback serves its route's new
        handlers (or goes through on_rest: the route is gone, offloaded or official-style)."""
        by_regex: dict[str, Route] = {}
        for route in self.registry.routes:
            by_regex.setdefault(route.pattern.regex, route)  # Orthanc's order: the first
        for regex in self.registered:
            found = by_regex.get(regex)
            self.native.set_inline_serve(regex, None if found is None else self.rest.serve_of(found))

    def start_offload(self) -> None:
        """Starts the offload backend: at start, or at the reload that brings the first
        offloaded handler."""
        odd = [m for m in self.modules if not all(p.isidentifier() for p in m.split("."))]
        if odd:
            raise ModuleNameClash(
                f"the script(s) {', '.join(odd)} have offloaded handlers, which workers find "
                "by module name: rename the file to a Python module name (letters, digits, "
                "underscores)")
        section = self.section
        offload = self.executor.start(section, self.modules, fresh=bool(section.get("Reload")),
                                      native=self.native, write=rest.write)
        offload.add_master_functions(self.jobs.master_functions())
        if self.executor.fast is not None:  # its answers are counted in C++ (fast_path.cpp)
            self.stats.add_source(self.executor.fast)
        if section.get("Verbose"):
            log("info", f"{offload.name} pool started: {offload.status()['workers']}")

    def start_services(self, configuration_path: str) -> None:
        """The pool (if a handler is offloaded), the event feeds, the jobs, reload on save."""
        section = self.section
        if self.registry.has_offloaded():
            self.start_offload()
        self.hub.start()
        self.jobs.start()
        if section.get("Reload"):
            # Routes that a reload adds are registered while Orthanc serves requests:
            # the gate lets that registration find Orthanc's routes lock free.
            self.native.install_route_gate()
            self.watcher = reload.Watcher(
                self.scripts, Path(configuration_path) if configuration_path else None,
                self.reload_scripts, self.reload_configuration)
            self.watcher.start()
            log("warning", "reload on save is on (a development setting): watching "
                + ", ".join(str(p) for p in self.watcher.watched()))

    # -- Orthanc's changes --

    def on_change(self, change_type: int, level: int, resource_id: str | None) -> None:
        if change_type == ChangeType.ORTHANC_STARTED:
            self.cluster.start()
        if change_type != ChangeType.ORTHANC_STOPPED:
            self.hub.signal(change_type, level, resource_id)
            return
        grace = settings.shutdown_grace()
        try:
            # Orthanc waits for the requests in flight, for ShutdownGrace; a task still
            # running then must end just before, so that its request answers while
            # Orthanc's HTTP server still can.
            self.jobs.orthanc_stopping()
            self.executor.orthanc_stopping(grace)
            # So is a child process that a request or a handler waits for (leftovers.py).
            leftovers.watch_waits_by(time.monotonic() + grace,
                                     lambda line: log("warning", line))
        finally:
            self._orthanc_stopping(grace, change_type, level, resource_id)

    def _orthanc_stopping(self, grace: float, change_type: int, level: int,
                          resource_id: str | None) -> None:
        # Orthanc signals this on its main thread before it stops its HTTP server,
        # which cuts every answer not yet written, and its database, which the event
        # checkpoints live in. Within ShutdownGrace: the requests in flight finish,
        # the handlers catch up with the change log, they hear ORTHANC_STOPPED, and
        # their checkpoints are saved. Changes recorded after that are delivered
        # after the next start.
        deadline = self.shutdown_deadline = time.monotonic() + grace
        in_flight = self.rest.in_flight
        if not in_flight.wait_idle(grace):
            log("error", f"{in_flight.count} request(s) still running after ShutdownGrace "
                f"({grace} s); Orthanc stops anyway")
        fast = self.executor.fast  # requests on the fast path (fast_path.cpp) hold a worker each
        while fast is not None and fast.leased() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.hub.drain(deadline)
        self.hub.signal(change_type, level, resource_id)
        self.hub.stop(deadline)

    # -- reload on save --

    def reload_scripts(self, changed: list[Path]) -> None:
        """Imports the scripts again and swaps their handlers; on failure, the old ones stay."""
        started = time.monotonic()
        scripts = self.scripts
        names = {p.stem for p in scripts}
        saved = {name: sys.modules.get(name) for name in names}
        beside = reload.forget_modules_beside(scripts)
        new = Registry()
        try:
            with self.registry.recording_into(new):
                for path in scripts:
                    import_script(path)
        except BaseException as error:  # the previous handlers stay, whatever the script raised
            for name, module in {**saved, **beside}.items():
                if module is not None:
                    sys.modules[name] = module
            import traceback

            log("error", f"reloading after a change of {', '.join(map(str, changed))} failed; "
                "the previous handlers keep running:\n"
                + "".join(traceback.format_exception(error)))
            return
        new.keep_from(self.registry, lambda h: getattr(h.handler, "__module__", None) not in names)
        for route in new.routes:
            if route.pattern.regex not in self.registered:
                self.register_route(route.pattern.regex, None)  # served once bound, below
                self.registered.add(route.pattern.regex)
        if new.has_offloaded() and self.executor.backend is not None:
            self.executor.restart(self.section, [*(p.stem for p in scripts), *self.recipes])
        elif new.has_offloaded():
            try:
                self.start_offload()  # the script's first offloaded handler
            except Exception as error:
                log("error", f"reloading after a change of {', '.join(map(str, changed))}: the "
                    f"pool could not start ({error}); the previous handlers keep running")
                return
        new.frozen = True
        self.hub.stop(time.monotonic() + settings.shutdown_grace())
        self.bind(new)
        self.registry.take(new)
        self.serve_inline_routes()
        self.hub.start(orthanc_starts=False)
        handlers = self.registry
        log("warning", f"reloaded {', '.join(p.name for p in scripts)} in "
            f"{(time.monotonic() - started) * 1000:.0f} ms ({counted(handlers)})")

    def reload_configuration(self, path: Path) -> None:
        """A valid new configuration restarts Orthanc in its process; an invalid one is only
        logged."""
        from runtime.configuration import check_orthanc_config, load_config_file

        try:
            problems = check_orthanc_config(load_config_file(path))
        except (OSError, ValueError) as error:
            log("error", f"the configuration {path} changed but cannot be read: {error}")
            return
        if problems:
            for problem in problems:
                log("error", f"the configuration {path} changed but is invalid at "
                    f"{problem.path}: {problem.message}; nothing reloaded")
            return
        log("warning", f"the configuration {path} changed: Orthanc restarts (POST /tools/reset)")
        transport.call("RestApiPost", "/tools/reset", b"")

    # -- stop --

    def close(self) -> None:
        """Stops what the session started, within ShutdownGrace; forgets the script's modules,
        so that a new start imports them afresh."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        grace = settings.shutdown_grace()
        # One grace for the whole stop: it began at ORTHANC_STOPPED, if Orthanc said so
        # (not when it restarts its plugins on /tools/reset).
        deadline = self.shutdown_deadline or time.monotonic() + grace
        # Taken first: a process that the fork server started (the script imported
        # there) is no descendant of Orthanc's any more once the fork server is gone.
        before = leftovers.descendants()
        try:
            if self.hub.feeds:
                self.hub.drain(deadline)
                self.hub.stop(deadline)
            self.jobs.stop(deadline)
            self.cluster.stop()
            self.executor.shutdown(max(0.0, deadline - time.monotonic()))
        finally:
            self.end_leftovers(before)
            self.forget_modules()
            self.kept.clear()
            self.deactivate()

    def abort(self) -> None:
        """A start that failed: the pool down at once, the script's processes ended."""
        try:
            self.executor.shutdown(0)
        finally:
            self.end_leftovers([])
            self.forget_modules()
            self.deactivate()

    def forget_modules(self) -> None:
        for name in self.modules:
            sys.modules.pop(name, None)
        self.modules.clear()

    @staticmethod
    def end_leftovers(before: list[Any]) -> None:
        """End the processes left below Orthanc's, name the threads left; none holds Orthanc's
        exit."""
        leftovers.end_processes(before + leftovers.descendants(),
                                lambda line: log("warning", line))
        threads = leftovers.running_threads()
        if threads:
            log("warning", f"thread(s) still running: {leftovers.describe_threads(threads)}; "
                "Orthanc will not wait for them when it exits")
        leftovers.do_not_wait_for_threads_at_exit()

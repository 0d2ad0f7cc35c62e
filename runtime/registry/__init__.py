"""The registry of handlers: what the decorators and the compatibility module record.

Decorators only record here. Registration with Orthanc happens once, in
runtime.plugin, after the user script is imported; from then on the
registry is frozen and recording raises with the fix. Then each record gets
its invoker (runtime.registry.invoke): how the callbacks run it. A handler
given to ``orthanc.Register*`` is recorded with its ``adapter``, which
runtime.compat supplies: the official plugin's objects and signature. In a worker the same
script imports, records into its own registry, and nothing reaches Orthanc.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from runtime.enums import ChangeType, ResourceType
from runtime.registry.routing import CompiledPattern, compile_pattern

Style = Literal["runtime", "compat"]
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")


def handler_name(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", None) or "?"
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"


def _described(entry: Handler) -> str:
    """The handler's name and its file: what a clash between two scripts must say."""
    code = getattr(entry.handler, "__code__", None)
    return f"{entry.name} ({code.co_filename})" if code is not None else entry.name


@dataclass(frozen=True)
class Offload:
    """What @offload records on a handler: run it in the pool, with this timeout."""

    timeout: float | None = None


def offload_of(handler: Callable[..., Any]) -> Offload | None:
    return getattr(handler, "__orthanc_offload__", None)


Adapter = Callable[["Handler"], Callable[..., Any]]
"""Makes the invoker of a compat handler from its record (supplied by runtime.compat)."""


@dataclass
class Handler:
    """What every kind of handler records: the callable, its style, its name for the log.

    ``adapter``: how an official-style callback is called (runtime.compat gives it);
    ``invoke``: what the callbacks call, bound by runtime.registry.invoke."""

    handler: Callable[..., Any]
    style: Style
    name: str
    adapter: Adapter | None = field(default=None, kw_only=True, repr=False, compare=False)
    invoke: Callable[..., Any] | None = field(default=None, kw_only=True, repr=False,
                                              compare=False)

    @property
    def offload(self) -> Offload | None:
        return offload_of(self.handler)


@dataclass
class RouteHandler(Handler):
    pass


@dataclass
class Route:
    """Every handler of one pattern, by method; a compat handler takes every method."""

    pattern: CompiledPattern
    by_method: dict[str, RouteHandler] = field(default_factory=dict)
    any_method: RouteHandler | None = None

    @property
    def allowed(self) -> list[str]:
        if self.any_method is not None:
            return list(HTTP_METHODS)
        return [m for m in HTTP_METHODS if m in self.by_method]

    def handler_for(self, method: str) -> RouteHandler | None:
        return self.by_method.get(method) or self.any_method


@dataclass
class ChangeListener(Handler):
    types: frozenset[ChangeType] | None = None
    levels: frozenset[ResourceType] | None = None

    def wants(self, change_type: int, level: int) -> bool:
        return (self.types is None or change_type in self.types) and (
            self.levels is None or level in self.levels
        )


@dataclass
class StoredListener(Handler):
    """``invoke(event)`` runs it from the change log (None: it does not read the log);
    ``on_ingest(dicom, instance_id)`` is called on Orthanc's ingest thread, while the
    instance's DICOM object exists (None: nothing to do there)."""

    on_ingest: Callable[[Any, str], None] | None = field(default=None, kw_only=True,
                                                          repr=False, compare=False)


@dataclass
class HttpFilter(Handler):
    pass


@dataclass
class ReceivedInstanceHandler(Handler):
    pass


@dataclass
class DicomService(Handler):
    """The one handler of a DICOM service (``kind``: a key of DICOM_SERVICES).

    ``helpers`` are the other callables of a service the official plugin
    registers as several (C-MOVE's size, apply and free; storage commitment's
    lookup); an official-style one's adapter says how it is called (the 7.x
    callbacks get a DicomConnection where the older ones get AETs)."""

    kind: str = ""
    helpers: tuple[Callable[..., Any], ...] = ()


DICOM_SERVICES = {
    "find": "C-FIND handler",
    "worklist": "worklist handler",
    "move": "C-MOVE handler",
    "storage_commitment": "storage-commitment handler",
}


@dataclass
class StorageAreaEntry:
    """Where Orthanc keeps its files: three callables (create, read, remove).

    ``custom_data``: the official plugin 7.1's ``RegisterStorageArea3`` (Orthanc 1.12.8 and
    newer): create answers custom data that Orthanc keeps with the file and hands back to read
    (a range) and remove."""

    create: Callable[..., Any]
    read: Callable[..., Any]
    remove: Callable[..., Any]
    style: Style
    name: str
    custom_data: bool = False
    # "create", "read", "remove" -> what the callbacks call (runtime.registry.invoke)
    invokers: dict[str, Callable[..., Any]] = field(default_factory=dict, repr=False,
                                                    compare=False)


@dataclass
class JobType:
    """A type of job of Orthanc's job engine, run by ``handler`` (runtime.jobs)."""

    name: str
    handler: Callable[..., Any]
    retries: int = 0  # runs started again after a crashed worker or a step that timed out
    cancel_grace: float = 5.0  # seconds a running step has to reach its next yield when stopped
    takes_checkpoint: bool = False  # the handler has a ``checkpoint`` parameter
    adapter: None = field(default=None, kw_only=True, repr=False, compare=False)
    invoke: Callable[..., Any] | None = field(default=None, kw_only=True, repr=False,
                                              compare=False)
    """What starts a run of a job of this type (runtime.registry.invoke binds it)."""

    @property
    def offload(self) -> Offload | None:
        return offload_of(self.handler)


class RegistryFrozen(RuntimeError):
    pass


def _is_async(handler: Any) -> bool:
    # A callable object counts by its method: type(x).__call__, not x's attribute.
    call = type(handler).__dict__.get("__call__")
    return any(inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
               for f in (handler, call) if f is not None)


def _check_callable(handler: Any, style: Style = "runtime") -> None:
    if not callable(handler):
        raise TypeError(f"a handler must be callable, not {type(handler).__name__}")
    if _is_async(handler):
        # Orthanc calls every handler synchronously: an async def would answer an
        # unawaited coroutine, which no gate may take for a yes (runtime.registry.verdicts).
        raise TypeError(f"{handler_name(handler)} is an async def: Orthanc's callbacks are "
                        "synchronous and nothing would await it; write it as a plain def "
                        "(@offload runs slow work in a worker)")
    if style == "compat" and offload_of(handler) is not None:
        # Its arguments (a RestOutput, a DicomInstance) live only in the master.
        raise TypeError(
            f"{handler_name(handler)}: @offload works on handlers declared with the runtime's "
            "decorators (@route, @on_change, @on_find...), not on callbacks given to "
            "orthanc.Register*: their arguments are Orthanc's objects, which live in the master"
        )


P = ParamSpec("P")
R = TypeVar("R")


def _records(method: Callable[Concatenate[Registry, P], R]) -> Callable[Concatenate[Registry, P], R]:
    """A method that records a declaration: while the registry records into another one (a
    script imported again, runtime.plugin.reload), the declaration goes there."""
    @functools.wraps(method)
    def record(self: Registry, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._recording is not None:
            return getattr(self._recording, method.__name__)(*args, **kwargs)  # type: ignore[no-any-return]
        return method(self, *args, **kwargs)
    return record


class Registry:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._routes_by_regex: dict[str, Route] = {}
        self.change_listeners: list[ChangeListener] = []
        self.stored_listeners: list[StoredListener] = []
        self.http_filters: list[HttpFilter] = []
        self.received_instance: ReceivedInstanceHandler | None = None
        self.dicom_services: dict[str, DicomService] = {}
        self.cstore_filters: list[Handler] = []
        self.storage_area: StorageAreaEntry | None = None
        self.job_types: dict[str, JobType] = {}
        self.job_unserializers: list[Callable[[str, str], Any]] = []  # orthanc.RegisterJobsUnserializer
        self.frozen = False
        # While a reload imports the script again, what it declares goes to a new
        # registry, which replaces this one's handlers only if the import succeeds.
        self._recording: Registry | None = None

    def _guard(self, what: str) -> None:
        if self.frozen:
            raise RegistryFrozen(
                f"cannot add {what} now: handlers are registered with Orthanc once, after the "
                "script is imported; declare them at the top level of the script"
            )

    @_records
    def add_route(
        self,
        pattern: str,
        handler: Callable[..., Any],
        methods: Iterable[str] | None = None,
        style: Style = "runtime",
        adapter: Adapter | None = None,
    ) -> Route:
        """Records ``handler`` for ``pattern``; ``methods=None`` means every method (compat style)."""
        _check_callable(handler, style)
        self._guard(f"the route {pattern!r}")
        compiled = compile_pattern(pattern)
        route = self._routes_by_regex.get(compiled.regex)
        if route is None:
            route = Route(compiled)
            self._routes_by_regex[compiled.regex] = route
            self.routes.append(route)
        entry = RouteHandler(handler, style, handler_name(handler), adapter=adapter)
        if methods is None:
            if route.any_method is not None or route.by_method:
                other = route.any_method or next(iter(route.by_method.values()))
                raise ValueError(
                    f"route {pattern!r} is already handled by {_described(other)}; "
                    f"cannot add {_described(entry)}"
                )
            route.any_method = entry
            return route
        wanted = [m.upper() for m in methods]
        if not wanted:
            raise ValueError(f"route {pattern!r}: methods must not be empty")
        for method in wanted:
            if method not in HTTP_METHODS:
                raise ValueError(f"route {pattern!r}: unsupported method {method!r}")
            taken = route.by_method.get(method) or route.any_method
            if taken is not None:
                raise ValueError(
                    f"route {pattern!r} {method} is already handled by {_described(taken)}; "
                    f"cannot add {_described(entry)}"
                )
        for method in wanted:
            route.by_method[method] = entry
        return route

    @_records
    def add_change_listener(
        self,
        handler: Callable[..., Any],
        types: Iterable[int] | None = None,
        levels: Iterable[int] | None = None,
        style: Style = "runtime",
        adapter: Adapter | None = None,
    ) -> ChangeListener:
        _check_callable(handler, style)
        self._guard("an on-change handler")
        listener = ChangeListener(
            handler,
            style,
            handler_name(handler),
            None if types is None else frozenset(ChangeType(t) for t in types),
            None if levels is None else frozenset(ResourceType(x) for x in levels),
            adapter=adapter,
        )
        self.change_listeners.append(listener)
        return listener

    @_records
    def add_stored_listener(
        self, handler: Callable[..., Any], style: Style = "runtime", adapter: Adapter | None = None
    ) -> StoredListener:
        _check_callable(handler, style)
        self._guard("an on-stored-instance handler")
        listener = StoredListener(handler, style, handler_name(handler), adapter=adapter)
        self.stored_listeners.append(listener)
        return listener

    @_records
    def add_http_filter(self, handler: Callable[..., Any], style: Style = "runtime",
                        adapter: Adapter | None = None) -> HttpFilter:
        """Records a filter that every incoming HTTP request must pass (all of them must accept)."""
        _check_callable(handler, style)
        self._guard("an HTTP filter")
        entry = HttpFilter(handler, style, handler_name(handler), adapter=adapter)
        self.http_filters.append(entry)
        return entry

    @_records
    def set_received_instance(self, handler: Callable[..., Any], style: Style = "runtime",
                              adapter: Adapter | None = None) -> ReceivedInstanceHandler:
        """Records the one handler that may keep, modify or discard each received instance."""
        _check_callable(handler, style)
        self._guard("a received-instance handler")
        entry = ReceivedInstanceHandler(handler, style, handler_name(handler), adapter=adapter)
        if self.received_instance is not None:
            raise ValueError(
                f"Orthanc allows one received-instance handler: {_described(self.received_instance)}"
                f" is one already; cannot add {_described(entry)}")
        self.received_instance = entry
        return entry

    @_records
    def set_dicom_service(self, kind: str, handler: Callable[..., Any], style: Style = "runtime",
                          helpers: tuple[Callable[..., Any], ...] = (),
                          adapter: Adapter | None = None) -> DicomService:
        """Records the one handler of a DICOM service (Orthanc allows one of each)."""
        what = DICOM_SERVICES[kind]
        for function in (handler, *helpers):
            _check_callable(function, style)
        self._guard(f"a {what}")
        entry = DicomService(handler, style, handler_name(handler), kind, helpers, adapter=adapter)
        taken = self.dicom_services.get(kind)
        if taken is not None:
            raise ValueError(f"Orthanc allows one {what}: {_described(taken)} is one already; "
                             f"cannot add {_described(entry)}")
        self.dicom_services[kind] = entry
        return entry

    @_records
    def add_cstore_filter(self, handler: Callable[..., Any], style: Style = "runtime",
                          adapter: Adapter | None = None) -> Handler:
        """Records a filter that every instance received by C-STORE must pass (all must accept)."""
        _check_callable(handler, style)
        self._guard("a C-STORE filter")
        entry = Handler(handler, style, handler_name(handler), adapter=adapter)
        self.cstore_filters.append(entry)
        return entry

    @_records
    def add_job_type(self, job_type: JobType) -> JobType:
        _check_callable(job_type.handler)
        self._guard(f"the job type {job_type.name!r}")
        taken = self.job_types.get(job_type.name)
        if taken is not None:
            raise ValueError(f"the job type {job_type.name!r} is already run by "
                             f"{handler_name(taken.handler)}")
        self.job_types[job_type.name] = job_type
        return job_type

    @_records
    def add_job_unserializer(self, unserializer: Callable[[str, str], Any]) -> None:
        _check_callable(unserializer)
        self._guard("a jobs unserializer")
        self.job_unserializers.append(unserializer)

    @_records
    def set_storage_area(self, create: Callable[..., Any], read: Callable[..., Any],
                         remove: Callable[..., Any], style: Style = "runtime",
                         name: str | None = None, *, custom_data: bool = False) -> StorageAreaEntry:
        """Records the storage area; Orthanc allows one."""
        for function in (create, read, remove):
            _check_callable(function, style)
        self._guard("a storage area")
        entry = StorageAreaEntry(create, read, remove, style, name or handler_name(create),
                                 custom_data)
        if self.storage_area is not None:
            raise ValueError(f"Orthanc allows one storage area: {self.storage_area.name} is one "
                             f"already; cannot add {entry.name}")
        self.storage_area = entry
        return entry

    def match(self, path: str) -> tuple[Route, dict[str, Any], tuple[str, ...]] | None:
        """The first route whose pattern matches the whole path (Orthanc's order), with its values."""
        for route in self.routes:
            # the compiled regex first: converting values is for the one route that matches
            if route.pattern._compiled.fullmatch(path) is not None:
                found = route.pattern.match(path)
                if found is not None:
                    return route, found[0], found[1]
        return None

    def has_offloaded(self) -> bool:
        handlers: list[Handler] = [*self.route_handlers(), *self.change_listeners,
                                   *self.stored_listeners, *self.http_filters,
                                   *([self.received_instance] if self.received_instance else []),
                                   *self.dicom_services.values(), *self.cstore_filters]
        area = self.storage_area
        return (any(h.offload is not None for h in handlers)
                or any(t.offload is not None for t in self.job_types.values())
                or (area is not None and any(offload_of(f) is not None
                                             for f in (area.create, area.read, area.remove))))

    def route_handlers(self) -> list[RouteHandler]:
        result: list[RouteHandler] = []
        for route in self.routes:
            result.extend(route.by_method.values())
            if route.any_method is not None:
                result.append(route.any_method)
        return result

    @contextlib.contextmanager
    def recording_into(self, other: Registry) -> Iterator[Registry]:
        """What is declared meanwhile (a script imported again) goes to ``other``."""
        self._recording = other
        try:
            yield other
        finally:
            self._recording = None

    def keep_from(self, old: Registry, keep: Callable[[Handler], bool]) -> None:
        """Records again the handlers of ``old`` that ``keep`` accepts (what a reload keeps)."""
        for route in old.routes:
            for method, entry in route.by_method.items():
                if keep(entry):
                    self.add_route(route.pattern.source, entry.handler, [method], entry.style,
                                   entry.adapter)
            if route.any_method is not None and keep(route.any_method):
                self.add_route(route.pattern.source, route.any_method.handler, None,
                               route.any_method.style, route.any_method.adapter)
        for listener in old.change_listeners:
            if keep(listener):
                self.change_listeners.append(listener)
        for stored in old.stored_listeners:
            if keep(stored):
                self.stored_listeners.append(stored)
        for gate in old.http_filters:
            if keep(gate):
                self.http_filters.append(gate)
        if old.received_instance is not None and keep(old.received_instance):
            self.received_instance = old.received_instance
        for kind, service in old.dicom_services.items():
            if keep(service) and kind not in self.dicom_services:
                self.dicom_services[kind] = service
        self.cstore_filters.extend(gate for gate in old.cstore_filters if keep(gate))
        if old.storage_area is not None and self.storage_area is None and \
                keep(Handler(old.storage_area.create, old.storage_area.style, old.storage_area.name)):
            self.storage_area = old.storage_area
        for job_type in old.job_types.values():
            if keep(job_type) and job_type.name not in self.job_types:  # type: ignore[arg-type]
                self.job_types[job_type.name] = job_type

    def take(self, new: Registry) -> None:
        """Replaces every handler by ``new``'s; requests match one set or the other, whole."""
        self._routes_by_regex = new._routes_by_regex
        self.routes = new.routes  # what match() reads: one assignment
        self.change_listeners = new.change_listeners
        self.stored_listeners = new.stored_listeners
        self.http_filters = new.http_filters
        self.received_instance = new.received_instance
        self.dicom_services = new.dicom_services
        self.cstore_filters = new.cstore_filters
        self.storage_area = new.storage_area
        self.job_types = new.job_types  # jobs under way finish their run with the old handler
        self.job_unserializers = new.job_unserializers


# -- the registry that declarations go to ------------------------------------------------------

_own = Registry()
_active = _own


def active() -> Registry:
    """The registry that declarations go to and that the script's calls read (``jobs.submit``):
    the running session's (runtime.plugin.session) inside Orthanc, this process's own
    elsewhere (a worker imports the script, which declares into it; a test)."""
    return _active


def activate(registry: Registry | None) -> None:
    """Makes ``registry`` the active one; None: this process's own again (the session closed)."""
    global _active
    _active = _own if registry is None else registry

"""The registry of handlers: what the decorators and the compatibility module record.

Decorators only record here. Registration with Orthanc happens once, in
runtime._plugin, after the user script is imported; from then on the
registry is frozen and recording raises with the fix. In a worker the same
script imports, records into its own registry, and nothing reaches Orthanc.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .enums import ChangeType, ResourceType
from .routing import CompiledPattern, compile_pattern

Style = Literal["runtime", "compat"]
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE")


def handler_name(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", None) or "?"
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"


@dataclass(frozen=True)
class Offload:
    """What @offload records on a handler: run it in the pool, with this timeout."""

    timeout: float | None = None


def offload_of(handler: Callable[..., Any]) -> Offload | None:
    return getattr(handler, "__orthanc_offload__", None)


@dataclass
class RouteHandler:
    handler: Callable[..., Any]
    style: Style
    name: str

    @property
    def offload(self) -> Offload | None:
        return offload_of(self.handler)


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
class ChangeListener:
    handler: Callable[..., Any]
    style: Style
    name: str
    types: frozenset[ChangeType] | None = None
    levels: frozenset[ResourceType] | None = None

    def wants(self, change_type: int, level: int) -> bool:
        return (self.types is None or change_type in self.types) and (
            self.levels is None or level in self.levels
        )


@dataclass
class StoredListener:
    handler: Callable[..., Any]
    style: Style
    name: str


@dataclass
class JobType:
    """A type of job of Orthanc's job engine, run by ``handler`` (runtime.jobs)."""

    name: str
    handler: Callable[..., Any]
    retries: int = 0  # runs started again after a crashed worker or a step that timed out
    cancel_grace: float = 5.0  # seconds a running step has to reach its next yield when stopped
    takes_checkpoint: bool = False  # the handler has a ``checkpoint`` parameter

    @property
    def offload(self) -> Offload | None:
        return offload_of(self.handler)


class RegistryFrozen(RuntimeError):
    pass


def _check_callable(handler: object) -> None:
    if not callable(handler):
        raise TypeError(f"a handler must be callable, not {type(handler).__name__}")


class Registry:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._routes_by_regex: dict[str, Route] = {}
        self.change_listeners: list[ChangeListener] = []
        self.stored_listeners: list[StoredListener] = []
        self.job_types: dict[str, JobType] = {}
        self.job_unserializers: list[Callable[[str, str], Any]] = []  # orthanc.RegisterJobsUnserializer
        self.frozen = False

    def _guard(self, what: str) -> None:
        if self.frozen:
            raise RegistryFrozen(
                f"cannot add {what} now: handlers are registered with Orthanc once, after the "
                "script is imported; declare them at the top level of the script"
            )

    def add_route(
        self,
        pattern: str,
        handler: Callable[..., Any],
        methods: Iterable[str] | None = None,
        style: Style = "runtime",
    ) -> Route:
        """Records ``handler`` for ``pattern``; ``methods=None`` means every method (compat style)."""
        _check_callable(handler)
        self._guard(f"the route {pattern!r}")
        compiled = compile_pattern(pattern)
        route = self._routes_by_regex.get(compiled.regex)
        if route is None:
            route = Route(compiled)
            self._routes_by_regex[compiled.regex] = route
            self.routes.append(route)
        entry = RouteHandler(handler, style, handler_name(handler))
        if methods is None:
            if route.any_method is not None or route.by_method:
                other = route.any_method or next(iter(route.by_method.values()))
                raise ValueError(
                    f"route {pattern!r} is already handled by {other.name}; "
                    f"cannot add {entry.name}"
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
                    f"route {pattern!r} {method} is already handled by {taken.name}; "
                    f"cannot add {entry.name}"
                )
        for method in wanted:
            route.by_method[method] = entry
        return route

    def add_change_listener(
        self,
        handler: Callable[..., Any],
        types: Iterable[int] | None = None,
        levels: Iterable[int] | None = None,
        style: Style = "runtime",
    ) -> ChangeListener:
        _check_callable(handler)
        self._guard("an on-change handler")
        listener = ChangeListener(
            handler,
            style,
            handler_name(handler),
            None if types is None else frozenset(ChangeType(t) for t in types),
            None if levels is None else frozenset(ResourceType(x) for x in levels),
        )
        self.change_listeners.append(listener)
        return listener

    def add_stored_listener(
        self, handler: Callable[..., Any], style: Style = "runtime"
    ) -> StoredListener:
        _check_callable(handler)
        self._guard("an on-stored-instance handler")
        listener = StoredListener(handler, style, handler_name(handler))
        self.stored_listeners.append(listener)
        return listener

    def add_job_type(self, job_type: JobType) -> JobType:
        _check_callable(job_type.handler)
        self._guard(f"the job type {job_type.name!r}")
        taken = self.job_types.get(job_type.name)
        if taken is not None:
            raise ValueError(f"the job type {job_type.name!r} is already run by "
                             f"{handler_name(taken.handler)}")
        self.job_types[job_type.name] = job_type
        return job_type

    def add_job_unserializer(self, unserializer: Callable[[str, str], Any]) -> None:
        _check_callable(unserializer)
        self._guard("a jobs unserializer")
        self.job_unserializers.append(unserializer)

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
        handlers: list[Callable[..., Any]] = [h.handler for h in self.route_handlers()]
        handlers += [x.handler for x in self.change_listeners]
        handlers += [x.handler for x in self.stored_listeners]
        handlers += [x.handler for x in self.job_types.values()]
        return any(offload_of(h) is not None for h in handlers)

    def route_handlers(self) -> list[RouteHandler]:
        result: list[RouteHandler] = []
        for route in self.routes:
            result.extend(route.by_method.values())
            if route.any_method is not None:
                result.append(route.any_method)
        return result

    def clear(self) -> None:
        """Forgets every handler and unfreezes (a restart of the plugin, tests)."""
        self.routes.clear()
        self._routes_by_regex.clear()
        self.change_listeners.clear()
        self.stored_listeners.clear()
        self.job_types.clear()
        self.job_unserializers.clear()
        self.frozen = False


registry = Registry()

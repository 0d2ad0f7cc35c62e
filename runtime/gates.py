"""Gates: handlers whose answer decides whether Orthanc goes on with a request.

    Orthanc HTTP thread, before anything else --http_filter(method, uri, ip, headers, get)-->
        each filter in turn (inline, or @offload: in a worker, this thread waiting)
        all accept -> Orthanc serves the request;  one refuses -> Orthanc answers 403

Gates fail closed: a filter that raises, times out, or whose worker crashes
refuses the request, and the log names the filter and the cause. The first
refusal wins; the filters after it are not asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from . import answers, executor
from .enums import HttpMethod
from .http import Headers
from .registry import HttpFilter, registry


@dataclass(frozen=True, slots=True)
class FilterRequest:
    """An incoming HTTP request, before Orthanc serves it: what an ``@http_filter`` sees."""

    method: str
    uri: str
    ip: str
    headers: Headers
    query: dict[str, str]


def _ask(gate: HttpFilter, request: FilterRequest) -> bool:
    if gate.style == "compat":  # the official plugin's signature
        return bool(gate.handler(request.uri, method=HttpMethod[request.method], ip=request.ip,
                                 headers=dict(request.headers.items()), get=request.query))
    offload = gate.offload
    if offload is None:
        return bool(gate.handler(request))
    return bool(executor.run_call(gate.handler, request, offload.timeout))


def http_filter(method: str, uri: str, ip: str, headers: dict[str, str],
                get: dict[str, str]) -> bool:
    """Called by the native trampoline for every HTTP request; True lets it through."""
    request = FilterRequest(method, uri, ip, Headers.from_orthanc(headers),
                            {unquote_plus(k): unquote_plus(v) for k, v in get.items()})
    for gate in registry.http_filters:
        try:
            allowed = _ask(gate, request)
        except BaseException as error:  # fail closed, whatever the filter raised
            answers.log_exception(f"{gate.name} (HTTP filter, {method} {uri}): the request is "
                                  "refused", error, answers.new_error_id())
            return False
        if not allowed:
            answers.log_error(f"orthanc-runtime: {gate.name} refused {method} {uri} from {ip}")
            return False
    return True


def install(native: Any) -> None:
    """Registers the filter with Orthanc, if the script has one (only while Orthanc starts)."""
    if registry.http_filters:
        native.set_http_filter(http_filter)
        native.register_http_filter()

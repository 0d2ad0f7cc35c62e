"""Exceptions of the SDK, shared by the master and the workers.

The native binding raises :class:`OrthancException` when an SDK call fails;
it is defined here, in plain Python, so that it pickles by reference and a
worker re-raises the same class as the master.
"""

from __future__ import annotations


class OrthancException(Exception):
    """An Orthanc SDK call failed. ``args`` are ``(code, message)``, as in the official plugin.

    ``str()`` is that tuple, ``(17, 'Unknown resource')``, which is what the official plugin
    prints (the Orthanc Book's exception.py shows it).
    """

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(int(code), message)

    @property
    def code(self) -> int:
        return int(self.args[0])

    @property
    def message(self) -> str:
        return str(self.args[1])


class OrthancError(OrthancException):
    """A REST call into Orthanc failed; carries the HTTP status Orthanc answered."""

    def __init__(self, code: int, message: str = "", status: int = 500) -> None:
        super().__init__(code, message)
        self.status = status

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.args[0], self.args[1], self.status))

    def __str__(self) -> str:
        return f"{self.args[1]} (HTTP {self.status}, Orthanc error {self.args[0]})"


class NotInOrthanc(RuntimeError):
    """An SDK function was called outside Orthanc and outside a worker of its pool."""


class HandlerAborted(Exception):
    """A handler raised a BaseException that is not an Exception (SystemExit, KeyboardInterrupt...).

    An offloaded handler's worker raises this instead, the original as
    ``__cause__``, so that what a handler raises never stops a process: the
    master answers it like any other failure, under the original type's name.
    """

    def __init__(self, type_name: str) -> None:
        super().__init__(f"the handler raised {type_name}")
        self.type_name = type_name

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (self.type_name,))


# The HTTP status that answers an SDK error, as Orthanc's own REST API would.
_HTTP_STATUS_OF_CODE = {
    2: 501,  # NOT_IMPLEMENTED
    3: 400,  # PARAMETER_OUT_OF_RANGE
    5: 400,  # BAD_PARAMETER_TYPE
    7: 404,  # INEXISTENT_ITEM
    8: 400,  # BAD_REQUEST
    12: 400,  # URI_SYNTAX
    13: 404,  # INEXISTENT_FILE
    15: 400,  # BAD_FILE_FORMAT
    16: 504,  # TIMEOUT
    17: 404,  # UNKNOWN_RESOURCE
    21: 404,  # INEXISTENT_TAG
    23: 415,  # INCOMPATIBLE_IMAGE_FORMAT
    28: 400,  # BAD_JSON
    29: 401,  # UNAUTHORIZED
    34: 406,  # NOT_ACCEPTABLE
    36: 503,  # DATABASE_UNAVAILABLE
    3000: 415,  # UNSUPPORTED_MEDIA_TYPE
}


def http_status_of(error: OrthancException) -> int:
    """The HTTP status an SDK error answers: its own for OrthancError, else by its code."""
    if isinstance(error, OrthancError):
        return error.status
    try:
        return _HTTP_STATUS_OF_CODE.get(error.code, 500)
    except (TypeError, ValueError, IndexError):
        return 500

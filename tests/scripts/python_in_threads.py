"""Imports and compiles where Orthanc calls Python (tests/integration/test_python_in_orthanc_threads.py).

Each handler runs ``exercise()`` on the thread Orthanc calls it on: a route and an HTTP
filter on an HTTP thread (a 100 KiB stack in Orthanc), the stored-instance handler on
the thread that stores (an HTTP thread for a REST upload), the change handler on the
runtime's queue thread. ``exercise`` compiles a deeply nested expression, imports a
module written just now (compiled from source there, no bytecode cache can help), and
compiles the source of large modules of the standard library and of pydicom, as an
import without a bytecode cache does. Python 3.14 measures the real C stack while it
parses: on a small stack it refuses with "MemoryError: Parser stack overflowed".
"""

import ctypes
import importlib
import importlib.util
import itertools
import os
import sys
import threading
from pathlib import Path

from runtime import (
    ChangeType,
    FilterRequest,
    Request,
    http_filter,
    offload,
    on_change,
    on_stored_instance,
    route,
    sdk,
)

DEPTH = 200  # nesting a plain `python3` compiles on its main thread or any of its threads
SOURCES = ["json.decoder", "email.message", "xml.dom.minidom", "argparse", "typing",
           "pydicom.dataset", "pydicom._dicom_dict"]
results: dict[str, dict] = {}
counter = itertools.count()


class _Attr(ctypes.Structure):
    _fields_ = [("opaque", ctypes.c_char * 128)]  # larger than any pthread_attr_t


_libc = ctypes.CDLL(None)
_libc.pthread_self.restype = ctypes.c_ulong


def own_stack_size() -> int:
    """The size of the calling thread's stack, as the system (and Python 3.14) sees it."""
    attr, address, size = _Attr(), ctypes.c_void_p(), ctypes.c_size_t()
    if _libc.pthread_getattr_np(ctypes.c_ulong(_libc.pthread_self()), ctypes.byref(attr)):
        return 0
    _libc.pthread_attr_getstack(ctypes.byref(attr), ctypes.byref(address), ctypes.byref(size))
    _libc.pthread_attr_destroy(ctypes.byref(attr))
    return size.value


def outcome(action) -> str:
    try:
        action()
        return "ok"
    except BaseException as error:  # noqa: BLE001  (what failed is the answer)
        return f"{type(error).__name__}: {error}"


def fresh_module(label: str) -> str:
    """Writes a module never imported before (a large body and a nested expression), imports it."""
    folder = Path(sdk.configuration()["ThreadsModuleDir"])
    name = f"fresh_{label}_{os.getpid()}_{next(counter)}"
    body = "\n".join(f"def f{i}(x):\n    return [x, {{'i': {i}}}, (x + {i}) * 2]" for i in range(2000))
    nested = "(" * DEPTH + "41" + ")" * DEPTH
    (folder / f"{name}.py").write_text(f"{body}\nANSWER = {nested} + f1(0)[0] + 1\n")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    assert module.ANSWER == 42 and module.f1999(1)[2] == 4000
    return name


def compile_source(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    source = spec.loader.get_source(name)  # type: ignore[attr-defined]
    compile(source, spec.origin or name, "exec")
    importlib.import_module(name)


def exercise(label: str) -> dict:
    answer = {
        "thread": threading.current_thread().name,
        "own_stack": own_stack_size(),
        "nested_compile": outcome(lambda: eval("(" * DEPTH + "1" + ")" * DEPTH)),
        "fresh_import": outcome(lambda: fresh_module(label)),
        "sources": {name: outcome(lambda name=name: compile_source(name)) for name in SOURCES},
    }
    results[label] = answer
    return answer


@route("/threads/route")
def in_a_route(request: Request):
    return exercise("route")


@route("/threads/stack")
def stack(request: Request):
    """Where this route's Python runs: the plugin's view (orthanc_native/src/callback_stack.hpp)."""
    import _orthanc_native  # the master's embedded module (this script is imported by workers too)

    return {"own_stack": own_stack_size(), **_orthanc_native.thread_stack()}


@route("/threads/results/{label}")
def recorded(request: Request):
    label = request.params["label"]
    return results.get(label, {"missing": label})


@route("/threads/in-a-python-thread")
def in_a_python_thread(request: Request):
    """The same work on a thread Python made: what a plain `python3` does."""
    answers: list[dict] = []
    worker = threading.Thread(target=lambda: answers.append(exercise("python-thread")))
    worker.start()
    worker.join()
    return answers[0]


@route("/threads/recursion")
def runaway_recursion(request: Request):
    """A recursion through C code (each level a C call) until Python stops it."""
    def down(n: int) -> int:
        return sum(map(down, [n + 1]))
    return {"recursion": outcome(lambda: down(0))}


@route("/threads/pid")
@offload
def in_a_worker(request: Request):
    return {"pid": os.getpid(), **exercise(f"worker-{os.getpid()}")}


@http_filter
def probing_filter(request: FilterRequest) -> bool:
    if request.uri.startswith("/threads/filtered"):
        exercise("filter")
    return True


@route("/threads/filtered")
def filtered(request: Request):
    return {"through": True}


@on_stored_instance
def stored(instance) -> None:
    exercise("stored")


@on_change(ChangeType.NEW_INSTANCE)
def changed(change) -> None:
    exercise("change")

"""Concurrent HTTP load on loopback, each answer kept with its request."""

from __future__ import annotations

import http.client
import io
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pydicom
from pydicom.uid import generate_uid

from tests.harness import PYDICOM_FILES


@dataclass
class Result:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


def hammer(port: int, requests: Iterable[tuple[str, str, bytes | None]], clients: int,
           timeout: float = 120, on_progress: Callable[[int], None] | None = None) -> list[Result]:
    """Sends every request, ``clients`` at a time, each client on its own keep-alive connection.

    A request that gets no answer (connection closed, timeout) is recorded with status 0.
    """
    todo: queue.SimpleQueue[tuple[str, str, bytes | None] | None] = queue.SimpleQueue()
    count = 0
    for item in requests:
        todo.put(item)
        count += 1
    for _ in range(clients):
        todo.put(None)
    results: list[Result] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while (item := todo.get()) is not None:
            method, path, body = item
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body)
                answer = connection.getresponse()
                result = Result(method, path, answer.status,
                                {k.lower(): v for k, v in answer.getheaders()}, answer.read(),
                                time.perf_counter() - started)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                result = Result(method, path, 0, {}, b"", time.perf_counter() - started)
            with lock:
                results.append(result)
                done = len(results)
            if on_progress is not None:
                on_progress(done)
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 60)
    assert len(results) == count, f"{count - len(results)} request(s) never finished"
    return results


def distinct_instances(count: int, per_study: int | None = None,
                       template_name: str = "CT_small.dcm") -> list[bytes]:
    """``count`` DICOM files made from one of pydicom's, each a new instance; a new study
    (and series) every ``per_study`` instances, or one study for all."""
    template = pydicom.dcmread(PYDICOM_FILES / template_name)
    files = []
    for index in range(count):
        if index == 0 or (per_study and index % per_study == 0):
            template.StudyInstanceUID = generate_uid()
            template.SeriesInstanceUID = generate_uid()
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        buffer = io.BytesIO()
        template.save_as(buffer)
        files.append(buffer.getvalue())
    return files


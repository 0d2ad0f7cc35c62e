"""P4: reading a 30+ MB instance in a handler, in the master and from a worker.

The inline route calls GetDicomForInstance directly in Orthanc's interpreter;
the offloaded route makes the same call from a worker, proxied by the master.
Both handlers time the call themselves; requests alternate in a random order.
The verdict is on the call's time; the whole request's time is shown beside.
"""

from __future__ import annotations

import http.client
import json
import random

from .. import big_instance
from ..load import Client
from ..stats import median, ratio
from .base import Context, Result, expect_ok, ms, verdict

ID = "P4"
TITLE = "GetDicomForInstance of a 30+ MB instance in a handler"
TARGET = "proxied <= 1.3x direct"
ROUTES = {"ours inline (direct)": "/bench/dicom/{}",
          "ours @offload (proxied)": "/bench/dicom-offload/{}"}


def upload(port: int, data: bytes) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/instances", body=data,
                           headers={"Content-Type": "application/dicom"})
        answer = connection.getresponse()
        body = answer.read()
        expect_ok(answer.status, "upload of the large instance", body)
        return str(json.loads(body)["ID"])
    finally:
        connection.close()


def run(context: Context) -> Result:
    data = big_instance.write(context.workdir / "large.dcm").read_bytes()
    port = context.servers["ours"].port
    instance = upload(port, data)
    call: dict[str, list[float]] = {name: [] for name in ROUTES}
    request: dict[str, list[float]] = {name: [] for name in ROUTES}
    names = list(ROUTES)
    client = Client(port)
    for name in names * 2:  # warm-up: the storage cache, the shared-memory buffer
        client.get(ROUTES[name].format(instance))
    order = random.Random(4)
    for _ in range(context.settings.dicom_pairs):
        order.shuffle(names)
        for name in names:
            reply = client.get(ROUTES[name].format(instance))
            expect_ok(reply.status, name, reply.body)
            answer = json.loads(reply.body)
            if answer["size"] != len(data):
                raise RuntimeError(f"{name}: read {answer['size']} bytes of {len(data)}")
            call[name].append(answer["seconds"])
            request[name].append(reply.seconds)
    client.close()

    result = Result(ID, TITLE, TARGET)
    direct, proxied = list(ROUTES)
    for name in ROUTES:
        result.data[name] = {"call_median_s": median(call[name]),
                             "request_median_s": median(request[name]),
                             "calls_s": call[name], "requests_s": request[name]}
        result.rows.append((name, f"call {ms(median(call[name]))}, "
                                  f"whole request {ms(median(request[name]))}"))
    call_ratio = ratio(median(call[proxied]), median(call[direct]))
    request_ratio = ratio(median(request[proxied]), median(request[direct]))
    result.data.update(size_bytes=len(data), call_ratio=call_ratio, request_ratio=request_ratio)
    result.rows.append(("proxied / direct", f"call {call_ratio:.2f}x, whole request "
                        f"{request_ratio:.2f}x ({len(data) / 2**20:.1f} MB, "
                        f"{context.settings.dicom_pairs} pairs)"))
    result.verdict = verdict(call_ratio <= 1.3)
    result.judged = f"call {call_ratio:.2f}x (whole request {request_ratio:.2f}x)"
    return result

"""Overload: 200 concurrent clients against QueueLimit 64 get 200 or 503 with Retry-After."""

from __future__ import annotations

from collections import Counter

from tests.harness import running_orthanc, scripts_dir
from tests.reliability.conftest import wait_until
from tests.reliability.load import hammer

CONFIG = {
    "HttpThreadsCount": 256,  # Orthanc's default (50) would queue the clients before they reach us
    "PythonRuntime": {"Pool": {"Workers": 2, "QueueLimit": 64}},
}


def test_overload_answers_200_or_503_and_recovers(tmp_path):
    with running_orthanc(tmp_path, scripts_dir() / "reliability.py", CONFIG) as orthanc:
        requests = [("GET", f"/rel/work/{n}?s=0.05", None) for n in range(600)]
        results = hammer(orthanc.http_port, requests, 200)
        statuses = Counter(r.status for r in results)
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[503] > 0, "the queue limit was never reached: the test did not overload"
        for r in results:
            if r.status == 503:
                assert r.headers["retry-after"] == "1"
                assert r.json()["type"] == "PoolFull"
            else:
                assert r.json()["n"] == int(r.path.split("/")[3].split("?")[0])
        status, _ = wait_until(lambda: (s := orthanc.get("/runtime/status").json()["pool"])
                               ["workers"]["idle"] == 2 and s["queue"] == 0 and s)
        assert status["tasks"]["rejected"] == statuses[503]
        after = hammer(orthanc.http_port, [("GET", f"/rel/work/{n}", None) for n in range(20)], 4)
        assert all(r.status == 200 for r in after)
        print(f"overload: {dict(statuses)}")

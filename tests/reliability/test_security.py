"""Security: Orthanc's authentication covers our routes; the pool's channel is private."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import psutil

from tests.harness import running_orthanc, scripts_dir

PASSWORD = "s3cret-Passw0rd-for-tests"
CONFIG = {
    "AuthenticationEnabled": True,
    "RegisteredUsers": {"alice": PASSWORD},
    "PythonRuntime": {"Pool": {"Workers": 2}},
}
AUTH = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}


def test_routes_answer_401_without_credentials_like_orthancs_own(tmp_path):
    with running_orthanc(tmp_path, scripts_dir() / "reliability.py", CONFIG) as orthanc:
        for path in ("/rel/inline/1", "/rel/work/1", "/runtime/status", "/system"):
            assert orthanc.get(path).status == 401, path
            assert orthanc.get(path, headers={"Authorization": "Basic bm9ib2R5Om5vcGU="}).status == 401
            assert orthanc.get(path, headers=AUTH).status == 200, path
        assert orthanc.post("/rel/echo", b"x").status == 401


def test_status_route_reveals_no_secret(tmp_path):
    with running_orthanc(tmp_path, scripts_dir() / "reliability.py", CONFIG) as orthanc:
        status = orthanc.get("/runtime/status", headers=AUTH).text
        assert PASSWORD not in status and "RegisteredUsers" not in status
        assert "alice" not in status
        metrics = orthanc.get("/tools/metrics-prometheus", headers=AUTH).text
        assert PASSWORD not in metrics


def test_the_pool_channel_has_no_tcp_port_and_private_files(tmp_path):
    with running_orthanc(tmp_path, scripts_dir() / "reliability.py", CONFIG) as orthanc:
        assert orthanc.post("/rel/echo", b"y" * (3 << 20), headers=AUTH).json() == {"size": 3 << 20}
        master = psutil.Process(orthanc.process.process.pid)
        children = master.children(recursive=True)
        assert children
        for child in children:
            assert child.net_connections(kind="inet") == [], child.cmdline()
            for connection in child.net_connections(kind="unix"):
                if connection.laddr:  # the fork server's listening socket lives in a private folder
                    folder = Path(connection.laddr).parent
                    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        segments = list(Path("/dev/shm").glob(f"ortpool-{master.pid}-*"))
        assert segments
        for segment in segments:
            assert stat.S_IMODE(segment.stat().st_mode) == 0o600, segment
        json.loads(orthanc.get("/runtime/status", headers=AUTH).text)

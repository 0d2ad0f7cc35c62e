"""Who a server is, and which event handlers it runs (docs/cluster.md), on one Orthanc with
its own SQLite index: what /runtime/status says under ``cluster``.

The identity is Orthanc's ``DatabaseServerIdentifier``: read with GetDatabaseServerIdentifier
on Orthanc 1.11.1 and newer (the Debian 13 and unstable roots), from the configuration
before. The cluster itself (PostgreSQL, several servers) is tests/reliability/
test_cluster_postgresql.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import orthanc_version, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "cluster_demo.py"
READS_ORTHANC = orthanc_version() >= (1, 11, 1)


def test_the_status_names_the_configured_identity_and_every_handler_runs_by_default(tmp_path: Path):
    records = tmp_path / "records"
    records.mkdir()
    config = {"DatabaseServerIdentifier": "solo-1", "ClusterTestFolder": str(records),
              "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config) as orthanc:
        cluster = orthanc.get("/runtime/status").json()["cluster"]
        assert cluster["identity"] == "solo-1"
        assert cluster["identity_from"] == ("GetDatabaseServerIdentifier" if READS_ORTHANC
                                            else "DatabaseServerIdentifier")
        assert cluster["event_handlers"] == ["*"]
        assert cluster["runs"] == ["cluster_demo.handled"]
        assert cluster["leaves_to_other_servers"] == []
        assert cluster["identity_clash"] is None
        wait_for(lambda: orthanc.get("/runtime/status").json()["cluster"]["index"] == "SQLite",
                 what="the index read from /system")
        instance = orthanc.upload("CT_small.dcm")
        wait_for(lambda: (records / "handled.log").exists()
                 and (records / "handled.log").read_text().split() == [instance, "solo-1"],
                 what="the instance handled, on this server")


def test_without_a_configured_identifier_the_identity_is_orthancs_own_or_a_label(tmp_path: Path):
    config = {"ClusterTestFolder": str(tmp_path), "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config, name="lonely") as orthanc:
        cluster = orthanc.get("/runtime/status").json()["cluster"]
        if READS_ORTHANC:
            # Orthanc derives it (a hash of the MAC addresses, the AET and the ports).
            assert cluster["identity_from"] == "GetDatabaseServerIdentifier"
            assert cluster["identity"] and cluster["identity"] != f"lonely:{orthanc.http_port}"
        else:
            assert cluster["identity"] == f"lonely:{orthanc.http_port}"
            assert cluster["identity_from"].startswith("Name:HttpPort")


def test_a_server_given_no_handlers_runs_none_and_a_pattern_naming_none_is_logged(tmp_path: Path):
    config = {"ClusterTestFolder": str(tmp_path),
              "PythonRuntime": {"Pool": {"Workers": 1},
                                "Cluster": {"EventHandlers": ["nothing_here.*"]}}}
    with running_orthanc(tmp_path / "orthanc", SCRIPT, config) as orthanc:
        status = orthanc.get("/runtime/status").json()
        assert status["events"] == []
        assert status["cluster"]["runs"] == []
        assert status["cluster"]["leaves_to_other_servers"] == ["cluster_demo.handled"]
        assert "Cluster.EventHandlers: 'nothing_here.*' matches no event handler (they are: " \
               "cluster_demo.handled)" in orthanc.log()

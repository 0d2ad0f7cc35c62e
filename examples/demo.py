"""What ``make demo`` runs: Orthanc with the recipes, a few real DICOM files, URLs to try.

    make demo                                  # or: orthanc-runtime run examples/demo.py

Once Orthanc has started, this script uploads a few of pydicom's test files
(``demo_upload.DEMO_FILES``) and logs curl commands for each recipe, with the
identifiers of what it uploaded. For auto-routing it declares this very
Orthanc as a peer, ``demo-loopback``, and routes MR studies to it: once a
study is stable (``StableAge``, 60 s by default) the store job runs, Orthanc
finds it has the instances already, and ``/recipes/auto-routing/status``
lists the study as sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo_upload import demo_files

import recipes.all  # noqa: F401  (registers every recipe)
from recipes import autorouting, worklists
from runtime import Change, ChangeType, on_change, sdk

LOOPBACK = "demo-loopback"

worklists.configure(Folder=str(Path(__file__).parent / "worklists"))
autorouting.configure(Rules=[
    {"Name": "demo: MR studies to this Orthanc", "Match": {"Modality": "MR"}, "Peers": [LOOPBACK]},
])


def _say(line: str) -> None:
    sdk.log.warning(f"orthanc-runtime demo: {line}")


@on_change(ChangeType.ORTHANC_STARTED)
def started(change: Change) -> None:
    """Declares the loopback peer, uploads the demo files, logs what to try."""
    port = sdk.configuration().get("HttpPort", 8042)
    base = f"http://localhost:{port}"
    sdk.rest_put(f"/peers/{LOOPBACK}", {"Url": f"http://127.0.0.1:{port}/"})
    stored: dict[str, dict[str, Any]] = {}
    for path in demo_files():
        stored[path.name] = sdk.rest_post("/instances", path.read_bytes())
    ct, mr = stored["CT_small.dcm"], stored["MR_small.dcm"]
    color, j2k = stored["examples_ybr_color.dcm"]["ID"], stored["JPEG2000.dcm"]["ID"]
    bad = stored["badVR.dcm"]["ID"]
    series = stored["4467"]["ParentSeries"]
    study = stored["4467"]["ParentStudy"]
    for line in (
        f"uploaded {len(stored)} files; try:",
        f"  curl -o ct.jpg {base}/thumbnails/{ct['ID']}?size=128",
        f"  curl -o color.png '{base}/thumbnails/{color}?format=png&frame=3'",
        f"  curl -o series.jpg {base}/thumbnails/series/{series}",
        f"  curl -o study.jpg {base}/thumbnails/studies/{stored['4467']['ParentStudy']}",
        f"  curl {base}/thumbnails/{j2k}                    # 415: no JPEG 2000 decoder",
        f"  curl {base}/pydicom/{ct['ID']}",
        f"  curl '{base}/pydicom/{mr['ID']}?format=json'",
        f"  curl '{base}/pydicom/{bad}?format=json'          # 422: invalid IS value",
        f"  curl '{base}/computation?n=300' & curl '{base}/computation?n=300' & wait",
        f"  curl '{base}/computation/inline?n=300' & curl '{base}/computation/inline?n=300' & wait",
        f"  curl {base}/recipes/auto-routing/status      # MR studies, once stable",
        f"  curl -X POST {base}/recipes/study-export/{study}   # a job; then:",
        f"  curl {base}/jobs?expand                          # its progress, per instance",
        f"  curl -o study.zip {base}/recipes/study-export/{study}/archive",
        f"  curl {base}/worklists                            # the worklist items, from examples/worklists",
        f"  findscu -W -k 'ScheduledProcedureStepSequence[0].Modality=CT' -k PatientName "
        f"localhost {sdk.configuration().get('DicomPort', 4242)}   # a modality's query (DCMTK)",
        f"  curl {base}/runtime/status",
    ):
        _say(line)

"""Export a study as a ZIP of PNG previews, as a job of Orthanc's job engine.

    curl -X POST http://localhost:8042/recipes/study-export/<study-id>     # {"ID": <job id>, ...}
    curl http://localhost:8042/jobs/<job-id>                                # progress per instance
    curl -X POST http://localhost:8042/jobs/<job-id>/pause                  # or resume, cancel
    curl -o study.zip http://localhost:8042/recipes/study-export/<study-id>/archive

The job runs in a worker of the pool: each step asks Orthanc for the preview
of one instance (``/instances/{id}/preview``) and writes it as a file of a
working folder; the checkpoint is the number of instances written. A pause, a
cancel or a restart of Orthanc (with ``SaveJobs``) resumes from there: a step
done again rewrites the same file, so doing one twice does no harm. The last
step packs the folder into ``<Folder>/<study-id>.zip``, written aside and
renamed, so that a download never sees half an archive. An instance Orthanc
cannot render (JPEG 2000 in Orthanc 1.10) becomes a text file saying why.

Run it alone with ``orthanc-runtime run recipes/study_export.py``, or enable it
with ``"PythonRuntime": {"Recipes": {"StudyExport": {"Enabled": true}}}``;
settings: ``Folder`` (empty: ``orthanc-runtime-exports`` in the system's
temporary folder) and ``Priority`` (of the jobs it submits).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from recipes import path_id, settings
from runtime import (
    JobStep,
    NotFound,
    OrthancError,
    Request,
    Response,
    job,
    jobs,
    offload,
    route,
    sdk,
)

CONFIG_KEY = "StudyExport"
JOB_TYPE = "StudyExport"


def export_folder() -> Path:
    folder = settings(CONFIG_KEY)["Folder"] or os.path.join(tempfile.gettempdir(),
                                                             "orthanc-runtime-exports")
    return Path(folder)


@route("/recipes/study-export/{study_id}", methods=["POST"])
def export(request: Request) -> dict[str, Any]:
    """Submits the export job of a study; 404 if Orthanc has no such study."""
    study_id = path_id(request, "study_id")
    sdk.rest_get(f"/studies/{study_id}")  # an unknown study answers 404 here, not in the job
    job_id = jobs.submit(JOB_TYPE, priority=settings(CONFIG_KEY)["Priority"], study_id=study_id)
    return {"ID": job_id, "Path": f"/jobs/{job_id}",
            "Archive": f"/recipes/study-export/{study_id}/archive"}


@route("/recipes/study-export/{study_id}/archive")
def archive(request: Request) -> Response:
    """The archive of a finished export; 404 until the job has finished."""
    study_id = path_id(request, "study_id")
    path = export_folder() / f"{study_id}.zip"
    if not path.is_file():
        raise NotFound(f"no archive of the study {study_id}: export it first "
                       f"(POST /recipes/study-export/{study_id})")
    return Response(path.read_bytes(), content_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{study_id}.zip"'})


@job(JOB_TYPE)
@offload(timeout=120)
def export_study(study_id: str, checkpoint: int | None = None) -> Any:
    """One instance a step, from the checkpoint on; then the archive."""
    instances = sorted(str(i["ID"]) for i in sdk.rest_get(f"/studies/{study_id}/instances"))
    work = export_folder() / f"{study_id}.parts"
    work.mkdir(parents=True, exist_ok=True)
    total = len(instances)
    for index in range(checkpoint or 0, total):
        name = f"{index + 1:05d}-{instances[index]}"
        try:
            (work / f"{name}.png").write_bytes(sdk.rest_get(f"/instances/{instances[index]}/preview"))
        except OrthancError as error:
            (work / f"{name}.txt").write_text(f"Orthanc cannot render this instance: {error}\n")
        yield JobStep((index + 1) / (total + 1), status={"Instance": index + 1, "Of": total},
                      checkpoint=index + 1)
    path = export_folder() / f"{study_id}.zip"
    partial = path.with_name(path.name + ".part")
    with zipfile.ZipFile(partial, "w") as packed:
        for part in sorted(work.iterdir()):
            packed.write(part, part.name)
    os.replace(partial, path)
    shutil.rmtree(work, ignore_errors=True)
    return {"Instances": total, "Archive": f"/recipes/study-export/{study_id}/archive",
            "Size": path.stat().st_size}

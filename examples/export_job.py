# export_job.py: the job example of docs/jobs.md; run it with `.venv/bin/orthanc-runtime run export_job.py`
from runtime import JobStep, Request, job, jobs, offload, route, sdk


@job('ExportStudy')
@offload(timeout=60)                 # the steps run in a worker; each within 60 s
def export_study(study_id, checkpoint=None):
    instances = sdk.rest_get(f'/studies/{study_id}/instances')
    for index in range(checkpoint or 0, len(instances)):
        ...                          # one instance (make it idempotent: see below)
        yield JobStep((index + 1) / len(instances), status={'done': index + 1}, checkpoint=index + 1)
    return {'instances': len(instances)}         # the job's output


@route('/export/{study_id:id}', methods=['POST'])
def export(request: Request):
    return {'job': jobs.submit('ExportStudy', priority=5, study_id=request.params['study_id'])}

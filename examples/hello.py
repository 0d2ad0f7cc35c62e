# hello.py: run it with `.venv/bin/orthanc-runtime run hello.py`
from runtime import Request, offload, route, sdk


@route('/hello/{name}')
def hello(request: Request):
    return {'hello': request.params['name'], 'instances': len(sdk.rest_get('/instances'))}


@route('/checksum/{instance_id:id}')
@offload                                   # runs in a worker process, not under Orthanc's GIL
def checksum(request: Request):
    import hashlib
    return {'sha256': hashlib.sha256(sdk.get_dicom(request.params['instance_id'])).hexdigest()}

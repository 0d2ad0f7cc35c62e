# The SDK calls of Orthanc 1.12 and 1.13 (key-value stores, queues, LogMessage,
# SetStableStatus, EmitAuditLog, SetMetricsIntegerValue, thread names,
# LoadDicomInstance, CreateDicom2), each case answering JSON at
# /stores/<case> from the master (the official plugin's style) and at
# /stores-offloaded/<case> from a worker of the pool (runtime.sdk's wrappers there).
# A call the running Orthanc lacks answers the OrthancException it raised.
import base64
import json

import orthanc

from runtime import Request, offload, route, sdk


def key_values(params):
    store = params['name']
    orthanc.StoreKeyValue(store, 'b-key', b'second')
    orthanc.StoreKeyValue(store, 'a-key', 'first')  # str: stored as UTF-8
    orthanc.StoreKeyValue(store, 'c-key', b'\x00binary\xff')
    orthanc.StoreKeyValue(store, 'c-key', b'replaced')
    result = {'a': orthanc.GetKeyValue(store, 'a-key').decode(),
              'missing': orthanc.GetKeyValue(store, 'no-such-key')}
    orthanc.DeleteKeyValue(store, 'b-key')
    orthanc.DeleteKeyValue(store, 'never-stored')  # no error
    walked = []
    iterator = orthanc.CreateKeysValuesIterator(store)
    while iterator.Next():
        walked.append([iterator.GetKey(), iterator.GetValue().decode()])
    result['walked'] = walked
    return result


def key_values_runtime(params):
    store = sdk.kv_store(params['name'])
    store['one'] = b'1'
    store['two'] = '2'
    store['gone'] = b'x'
    del store['gone']
    return {'items': [[k, v.decode()] for k, v in store.items()], 'one': store['one'].decode(),
            'has_two': 'two' in store, 'has_gone': 'gone' in store, 'len': len(store),
            'default': store.get('gone', b'none').decode()}


def queue(params):
    name = params['name']
    for value in (b'first', b'second', b'third'):
        orthanc.EnqueueValue(name, value)
    size = orthanc.GetQueueSize(name)
    front = orthanc.DequeueValue(name, orthanc.QueueOrigin.FRONT)
    back = orthanc.DequeueValue(name, orthanc.QueueOrigin.BACK)
    return {'size': size, 'front': front.decode(), 'back': back.decode(),
            'left': orthanc.GetQueueSize(name),
            'middle': orthanc.DequeueValue(name, orthanc.QueueOrigin.FRONT).decode(),
            'empty': orthanc.DequeueValue(name, orthanc.QueueOrigin.FRONT)}


def queue_runtime(params):
    jobs = sdk.queue(params['name'])
    jobs.put(b'job-1')
    jobs.put('job-2')
    size = len(jobs)
    return {'size': size, 'last': jobs.get(last=True).decode(), 'first': jobs.get().decode(),
            'none': jobs.get()}


def value(entry):
    return None if entry is None else base64.b64encode(entry).decode()


def reserve(params):
    """Reserves the free values of a queue one after the other, for `timeout` seconds."""
    name, timeout = params['name'], int(params['timeout'])
    if params.get('fill'):
        for item in params['fill'].split(','):
            orthanc.EnqueueValue(name, item.encode())
    reserved = []
    while True:
        entry, value_id = orthanc.ReserveQueueValue(name, orthanc.QueueOrigin.FRONT, timeout)
        if entry is None:
            assert value_id is None
            break
        reserved.append([entry.decode(), value_id])
    return {'reserved': reserved, 'size': orthanc.GetQueueSize(name)}


def acknowledge(params):
    orthanc.AcknowledgeQueueValue(params['name'], int(params['id']))
    return {'size': orthanc.GetQueueSize(params['name'])}


def reserve_runtime(params):
    jobs = sdk.queue(params['name'])
    jobs.put(b'work')
    taken = jobs.reserve(timeout=60)
    again = jobs.reserve(timeout=60)
    size = len(jobs)
    taken.acknowledge()
    return {'value': taken.value.decode(), 'again': again, 'size_reserved': size, 'size_after': len(jobs)}


def log_message(params):
    orthanc.LogMessage(params['text'], 'stores-test', 'sdk_stores.py', int(params.get('line', 7)),
                       int(params['category']), int(params['level']))
    return {}


def stable(params):
    code, changed = orthanc.SetStableStatus(params['id'], int(params['status']))
    return {'code': code, 'changed': changed}


def audit(params):
    return {'result': orthanc.EmitAuditLog('stores-test', params.get('user', 'alice'),
                                           orthanc.ResourceType.STUDY, params['id'], 'viewed',
                                           json.dumps({'why': 'test'}).encode())}


def metric(params):
    orthanc.SetMetricsIntegerValue(params['name'], int(params['value']), orthanc.MetricsType.DEFAULT)
    return {}


def thread_name(params):
    result = {'set': orthanc.SetCurrentThreadName(params['name'])}
    if params.get('clear'):
        result['cleared'] = orthanc.ClearCurrentThreadName()
    return result


def load(params):
    instance = orthanc.LoadDicomInstance(params['id'], int(params['mode']))
    tags = json.loads(instance.GetInstanceSimplifiedJson())
    return {'size': instance.GetInstanceSize(), 'pixels': instance.HasInstancePixelData(),
            'patient': tags.get('PatientID'),
            'data': base64.b64encode(instance.GetInstanceData()).decode()}


def create2(params):
    tags = {'PatientID': 'CD2-1', 'PatientName': 'Create^Two', 'Modality': 'OT',
            '0009,0010': 'ORT TEST', '0009,1001': 'private value'}
    dicom = orthanc.CreateDicom2(json.dumps(tags), None, orthanc.CreateDicomFlags.GENERATE_IDENTIFIERS,
                                 'ORT TEST')
    return {'dicom': base64.b64encode(dicom).decode()}


def built(params):
    import _orthanc_native

    return {'sdk': _orthanc_native.built_sdk_version()}


def database(params):
    return {'id': orthanc.GetDatabaseServerIdentifier()}


CASES = {'kv': key_values, 'kv-runtime': key_values_runtime, 'queue': queue,
         'queue-runtime': queue_runtime, 'reserve': reserve, 'acknowledge': acknowledge,
         'reserve-runtime': reserve_runtime, 'log': log_message, 'stable': stable, 'audit': audit,
         'metric': metric, 'thread': thread_name, 'load': load, 'create2': create2,
         'database': database, 'built': built}


def run(case, params):
    try:
        return CASES[case](params)
    except orthanc.OrthancException as e:
        return {'error': 'OrthancException', 'code': e.args[0], 'message': str(e.args[1])}
    except Exception as e:
        return {'error': type(e).__name__, 'message': str(e)}


def inline(output, uri, **request):
    result = run(request['groups'][0], request.get('get', {}))
    output.AnswerBuffer(json.dumps(result), 'application/json')


orthanc.RegisterRestCallback('/stores/([a-z0-9-]+)', inline)


@route('/stores-offloaded/{case}')
@offload
def offloaded(request: Request):
    return run(request.params['case'], dict(request.query))

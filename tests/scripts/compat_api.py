# Exercises the `orthanc` compatibility module the way scripts for the official plugin do.
import json

import orthanc

STORED = {}


def Echo(output, uri, **request):
    answer = dict(request)
    if 'body' in answer:
        answer['body'] = answer['body'].decode('latin-1')
    answer['uri'] = uri
    answer['body_type'] = type(request.get('body')).__name__
    answer['groups_type'] = type(request['groups']).__name__
    output.AnswerBuffer(json.dumps(answer), 'application/json')


def Answers(output, uri, **request):
    kind = request['groups'][0]
    if kind == 'buffer':
        output.SetHttpHeader('X-Custom', 'yes')
        output.SetCookie('session', 'abc')
        output.AnswerBuffer(b'\x00\x01binary', 'application/octet-stream')
    elif kind == 'text':
        output.AnswerBuffer('hé', 'text/plain; charset=utf-8')
    elif kind == 'not-allowed':
        output.SendMethodNotAllowed('GET,PUT')
    elif kind == 'status-code':
        output.SendHttpStatusCode(404)
    elif kind == 'status':
        output.SendHttpStatus(403, 'Forbidden here')
    elif kind == 'status-sized':  # official 4.0's signature: the body's size too
        output.SendHttpStatus(403, 'Forbidden here, and more', 14)
    elif kind == 'redirect':
        output.Redirect('/app/explorer.html')
    elif kind == 'unauthorized':
        output.SendUnauthorized('my realm')
    elif kind == 'twice':
        output.AnswerBuffer('first', 'text/plain')
        output.AnswerBuffer('second', 'text/plain')


def Errors(output, uri, **request):
    kind = request['groups'][0]
    if kind == 'unknown-resource':
        try:
            orthanc.RestApiGet('/instances/nope')
        except orthanc.OrthancException as e:
            output.AnswerBuffer(json.dumps({
                'args0': int(e.args[0]), 'args1': e.args[1],
                'is_unknown': e.args[0] == orthanc.ErrorCode.UNKNOWN_RESOURCE}), 'application/json')
    elif kind == 'uncaught':
        orthanc.RestApiGet('/instances/nope')
    elif kind == 'python':
        raise KeyError('boom')


def Enums(output, uri, **request):
    output.AnswerBuffer(json.dumps({
        'ChangeType.STABLE_STUDY': orthanc.ChangeType.STABLE_STUDY,
        'ChangeType.ORTHANC_STARTED': orthanc.ChangeType.ORTHANC_STARTED,
        'ResourceType.STUDY': orthanc.ResourceType.STUDY,
        'InstanceOrigin.REST_API': orthanc.InstanceOrigin.REST_API,
        'InstanceOrigin.DICOM_PROTOCOL': orthanc.InstanceOrigin.DICOM_PROTOCOL,
        'HttpMethod.POST': orthanc.HttpMethod.POST,
        'ErrorCode.UNKNOWN_RESOURCE': orthanc.ErrorCode.UNKNOWN_RESOURCE,
        'ErrorCode.BAD_FILE_FORMAT': orthanc.ErrorCode.BAD_FILE_FORMAT,
    }), 'application/json')


def Sdk(output, uri, **request):
    config = json.loads(orthanc.GetConfiguration())
    token = orthanc.GenerateRestApiAuthorizationToken()
    system = json.loads(orthanc.RestApiGet('/system'))
    system_after = json.loads(orthanc.RestApiGetAfterPlugins('/system'))
    orthanc.LogInfo('compat-info-line')
    orthanc.LogWarning('compat-warning-line')
    orthanc.LogError('compat-error-line')
    tools = json.loads(orthanc.RestApiPost('/tools/lookup', '1.2.3.4'))
    orthanc.RestApiPut('/tools/log-level', 'verbose')
    output.AnswerBuffer(json.dumps({
        'name': config.get('Name'), 'token_type': type(token).__name__, 'token_len': len(token),
        'version': system['Version'], 'same': system == system_after, 'lookup': tools,
    }), 'application/json')


def Stored(output, uri, **request):
    output.AnswerBuffer(json.dumps(STORED.get(request['groups'][0])), 'application/json')


def OnStoredInstance(dicom, instanceId):
    STORED[instanceId] = {
        'size': dicom.GetInstanceSize(),
        'data_len': len(dicom.GetInstanceData()),
        'data_magic': dicom.GetInstanceData()[128:132].decode(),
        'transfer_syntax_metadata': dicom.GetInstanceMetadata('TransferSyntax'),
        'has_sop': dicom.HasInstanceMetadata('SopClassUid'),
        'origin': int(dicom.GetInstanceOrigin()),
        'origin_is_rest': dicom.GetInstanceOrigin() == orthanc.InstanceOrigin.REST_API,
        'remote_aet': dicom.GetInstanceRemoteAet(),
        'patient_name': json.loads(dicom.GetInstanceSimplifiedJson()).get('PatientName'),
        'full_json_has_tag': '0010,0010' in json.loads(dicom.GetInstanceJson()),
        'transfer_syntax': dicom.GetInstanceTransferSyntaxUid(),
    }


CHANGES = []


def OnChangeA(changeType, level, resourceId):
    CHANGES.append(('A', int(changeType), int(level), resourceId))


def OnChangeB(changeType, level, resourceId):
    CHANGES.append(('B', int(changeType), int(level), resourceId))


def Changes(output, uri, **request):
    output.AnswerBuffer(json.dumps(CHANGES), 'application/json')


orthanc.RegisterRestCallback('/compat/echo(/.*)?', Echo)
orthanc.RegisterRestCallback('/compat/answers/(.*)', Answers)
orthanc.RegisterRestCallback('/compat/errors/(.*)', Errors)
orthanc.RegisterRestCallback('/compat/enums', Enums)
orthanc.RegisterRestCallback('/compat/sdk', Sdk)
orthanc.RegisterRestCallback('/compat/stored/(.*)', Stored)
orthanc.RegisterRestCallback('/compat/changes', Changes)
orthanc.RegisterOnStoredInstanceCallback(OnStoredInstance)
orthanc.RegisterOnChangeCallback(OnChangeA)
orthanc.RegisterOnChangeCallback(OnChangeB)

try:
    orthanc.RegisterRestCallback('/compat/(?P<name>.*)', Echo)
except ValueError as e:
    orthanc.LogWarning(f'named group refused: {e}')

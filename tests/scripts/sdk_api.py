# The generated `orthanc` API, group by group: each group answers JSON at
# /sdk/<group>/<instance-id> from the master (the official plugin's style) and
# at /sdk-offloaded/<group>/<instance-id> from a worker of the pool.
import base64
import hashlib
import json

import orthanc

from runtime import Request, offload, route


def b64(data):
    return base64.b64encode(data).decode()


def image_json(image):
    return {'format': int(image.GetImagePixelFormat()), 'width': image.GetImageWidth(),
            'height': image.GetImageHeight(), 'pitch': image.GetImagePitch(),
            'buffer': b64(image.GetImageBuffer())}


def images(instance_id, params):
    dicom = orthanc.GetDicomForInstance(instance_id)
    image = orthanc.DecodeDicomImage(dicom, 0)
    fmt, w, h, pitch, buffer = (image.GetImagePixelFormat(), image.GetImageWidth(),
                                image.GetImageHeight(), image.GetImagePitch(), image.GetImageBuffer())
    result = {'decoded': image_json(image)}
    if fmt in (orthanc.PixelFormat.RGB24, orthanc.PixelFormat.GRAYSCALE8):
        result['png'] = b64(orthanc.CompressPngImage(fmt, w, h, pitch, buffer))
        result['jpeg'] = b64(orthanc.CompressJpegImage(fmt, w, h, pitch, buffer, 90))
        uncompressed = orthanc.UncompressImage(base64.b64decode(result['png']), orthanc.ImageFormat.PNG)
        result['png_round_trip'] = uncompressed.GetImageBuffer() == buffer
    # CreateImage leaves the pixels as they come: start from black ones.
    canvas = orthanc.CreateImageFromBuffer(orthanc.PixelFormat.RGB24, 120, 40, 360, bytes(360 * 40))
    canvas.DrawText(0, 'Hello', 5, 5, 255, 0, 0)
    result['drawn'] = image_json(canvas)
    result['fonts'] = [orthanc.GetFontName(0), orthanc.GetFontSize(0), orthanc.GetFontsCount()]
    converted = canvas.ConvertPixelFormat(orthanc.PixelFormat.GRAYSCALE8)
    result['converted'] = image_json(converted)
    copied = orthanc.CreateImageFromBuffer(fmt, w, h, pitch, buffer)
    result['copy_equal'] = copied.GetImageBuffer() == buffer
    return result


def creation(instance_id, params):
    tags = {'PatientID': 'GEN-1', 'PatientName': 'Generated^Patient', 'Modality': 'OT',
            'StudyDescription': 'made by CreateDicom'}
    dicom = orthanc.CreateDicom(json.dumps(tags), None, orthanc.CreateDicomFlags.GENERATE_IDENTIFIERS)
    instance = orthanc.CreateDicomInstance(dicom)
    as_json = json.loads(orthanc.DicomBufferToJson(dicom, orthanc.DicomToJsonFormat.SHORT,
                                                   orthanc.DicomToJsonFlags.NONE, 0))
    stored = json.loads(orthanc.DicomInstanceToJson(instance_id, orthanc.DicomToJsonFormat.HUMAN,
                                                    orthanc.DicomToJsonFlags.NONE, 0))
    return {'dicom': b64(dicom), 'size': instance.GetInstanceSize(),
            'simplified': json.loads(instance.GetInstanceSimplifiedJson()),
            'serialized_equal': instance.SerializeDicomInstance() == dicom,
            'transfer_syntax': instance.GetInstanceTransferSyntaxUid(),
            'short_json_patient_id': as_json.get('0010,0020'),
            'stored_modality': stored.get('Modality'),
            'dicomweb_json': json.loads(orthanc.EncodeDicomWebJson(dicom)),
            'dicomweb_xml': orthanc.EncodeDicomWebXml(dicom),
            'instance_dicomweb': json.loads(instance.GetInstanceDicomWebJson()),
            'instance_dicomweb_xml': instance.GetInstanceDicomWebXml()}


def lookups(instance_id, params):
    tags = json.loads(orthanc.RestApiGet(f'/instances/{instance_id}/simplified-tags'))
    return {'study': orthanc.LookupStudy(tags['StudyInstanceUID']),
            'series': orthanc.LookupSeries(tags['SeriesInstanceUID']),
            'instance': orthanc.LookupInstance(tags['SOPInstanceUID']),
            'patient': orthanc.LookupPatient(tags['PatientID']),
            'dictionary': orthanc.LookupDictionary('PatientName'),
            'tag_name': orthanc.GetTagName(0x0010, 0x0020, None)}


def properties(instance_id, params):
    value = params.get('value', 'a value')
    orthanc.SetGlobalProperty(5001, value)
    return {'read': orthanc.GetGlobalProperty(5001, 'default'),
            'missing': orthanc.GetGlobalProperty(5999, 'default')}


def hashes(instance_id, params):
    data = b'orthanc-runtime'
    compressed = orthanc.BufferCompression(data, orthanc.CompressionType.ZLIB_WITH_SIZE, 0)
    return {'md5': orthanc.ComputeMd5(data), 'sha1': orthanc.ComputeSha1(data),
            'round_trip': orthanc.BufferCompression(compressed, orthanc.CompressionType.ZLIB_WITH_SIZE, 1).decode(),
            'uuid': orthanc.GenerateUuid(), 'mime': orthanc.AutodetectMimeType('a.png'),
            'expected': {'md5': hashlib.md5(data).hexdigest(), 'sha1': hashlib.sha1(data).hexdigest()}}


def peers(instance_id, params):
    found = orthanc.GetPeers()
    result = []
    for i in range(found.GetPeersCount()):
        url = found.GetPeerUrl(i)
        system = json.loads(orthanc.HttpGet(url.rstrip('/') + '/system', None, None))
        status, headers, body = found.CallPeerApi(i, orthanc.HttpMethod.GET, '/system', {}, b'', 10)
        client = orthanc.HttpClient(orthanc.HttpMethod.GET, url.rstrip('/') + '/nope', {}, b'',
                                    None, None, 10)
        result.append({'name': found.GetPeerName(i), 'url': url,
                       'custom': found.GetPeerUserProperty(i, 'Custom'),
                       'remote_name': system['Name'],
                       'peer_api': [status, json.loads(body)['Name'],
                                    headers.get('Content-Type', headers.get('content-type'))],
                       'client_status': client[0]})
    return {'peers': result}


def metrics(instance_id, params):
    orthanc.SetMetricsValue('sdk_api_test_metric', float(params.get('value', 42)),
                            orthanc.MetricsType.DEFAULT)
    return {'set': True}


GROUPS = {'images': images, 'creation': creation, 'lookups': lookups, 'properties': properties,
          'hashes': hashes, 'peers': peers, 'metrics': metrics}


def inline(output, uri, **request):
    group, instance_id = request['groups']
    try:
        result = GROUPS[group](instance_id, request.get('get', {}))
    except orthanc.OrthancException as e:
        result = {'error': type(e).__name__, 'code': e.args[0], 'message': str(e.args[1])}
    output.AnswerBuffer(json.dumps(result), 'application/json')


orthanc.RegisterRestCallback('/sdk/([a-z]+)/([a-z0-9-]*)', inline)


@route('/sdk-offloaded/{group}/{instance_id}')
@offload
def offloaded(request: Request):
    return GROUPS[request.params['group']](request.params['instance_id'], dict(request.query))


# Bad input: each case answers what it raised.
def bad(output, uri, **request):
    case = request['groups'][0]
    cases = {
        'short-buffer': lambda: orthanc.CompressPngImage(orthanc.PixelFormat.GRAYSCALE8, 10, 10, 10, b'x' * 50),
        'not-dicom': lambda: orthanc.DecodeDicomImage(b'not a DICOM file', 0),
        'md5-of-int': lambda: orthanc.ComputeMd5(12),
        'width-of-str': lambda: orthanc.CreateImage(orthanc.PixelFormat.RGB24, 'wide', 10),
        'kept-instance': lambda: KEPT[0].GetInstanceSize(),
        'kept-output': lambda: KEPT[1].AnswerBuffer('late', 'text/plain'),
        'lookup-unknown': lambda: orthanc.LookupStudy('1.2.3.4.5.6.7.8.9.0'),
    }
    try:
        cases[case]()
        result = {'error': None}
    except orthanc.OrthancException as e:
        result = {'error': 'OrthancException', 'code': e.args[0], 'message': str(e.args[1])}
    except Exception as e:
        result = {'error': type(e).__name__, 'message': str(e)}
    output.AnswerBuffer(json.dumps(result), 'application/json')


orthanc.RegisterRestCallback('/sdk-bad/([a-z0-9-]+)', bad)

KEPT = [None, None]


def keep_instance(dicom, instance_id):
    KEPT[0] = dicom


def keep_output(output, uri, **request):
    KEPT[1] = output
    output.AnswerBuffer('kept', 'text/plain')


orthanc.RegisterOnStoredInstanceCallback(keep_instance)
orthanc.RegisterRestCallback('/sdk-keep-output', keep_output)


# The runtime's own layer over the same calls (runtime.sdk).
def runtime_layer(instance_id):
    from PIL import Image

    from runtime import sdk

    image = sdk.decode_image(instance_id)
    small = Image.new('RGB', (16, 8), (10, 200, 30))
    dicom = sdk.create_dicom({'PatientID': 'RT-1', 'Modality': 'OT'}, small)
    tags = sdk.rest_get(f'/instances/{instance_id}/simplified-tags')
    return {'mode': image.mode, 'size': list(image.size), 'pixels': b64(image.tobytes()),
            'dicom': b64(dicom),
            'study': sdk.lookup_study(tags['StudyInstanceUID']),
            'unknown_study': sdk.lookup_study('1.2.3.4.5.6.7.8.9.0')}


@route('/runtime-sdk/{instance_id}')
def runtime_inline(request: Request):
    return runtime_layer(request.params['instance_id'])


@route('/runtime-sdk-offloaded/{instance_id}')
@offload
def runtime_offloaded(request: Request):
    return runtime_layer(request.params['instance_id'])


# What a worker cannot call raises NotInOrthanc, naming the call.
@route('/sdk-worker-refuses/{case}')
@offload
def worker_refuses(request: Request):
    from runtime.errors import NotInOrthanc

    cases = {'describe': lambda: orthanc.SetDescription('from a worker'),
             'error-code': lambda: orthanc.RegisterErrorCode(5000, 418, 'teapot')}
    try:
        cases[request.params['case']]()
    except NotInOrthanc as e:
        return {'error': 'NotInOrthanc', 'message': str(e)}
    except Exception as e:
        return {'error': type(e).__name__, 'message': str(e)}
    return {'error': None}


# Answers written by generated RestOutput methods.
def answer(output, uri, **request):
    kind = request['groups'][0]
    if kind == 'png':
        pixels = bytes(range(256)) * 4  # a 32 x 32 gradient, 8 bits
        output.CompressAndAnswerPngImage(orthanc.PixelFormat.GRAYSCALE8, 32, 32, 32, pixels)
    elif kind == 'jpeg':
        pixels = bytes([10, 200, 30]) * (16 * 8)
        output.CompressAndAnswerJpegImage(orthanc.PixelFormat.RGB24, 16, 8, 48, pixels, 95)
    elif kind == 'multipart':
        output.StartMultipartAnswer('mixed', 'text/plain')
        output.SendMultipartItem(b'first part')
        output.SendMultipartItem('second part')


orthanc.RegisterRestCallback('/sdk-answer/([a-z]+)', answer)

"""What the generator cannot read from the header: the one place for every exception.

Each hand-written or left-out SDK function is listed here with the reason.
Everything else in OrthancCPlugin.h is bound mechanically from the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The opaque SDK objects, as Python classes (the official plugin's names).
CLASSES = {
    "OrthancPluginRestOutput": "RestOutput",
    "OrthancPluginDicomInstance": "DicomInstance",
    "OrthancPluginImage": "Image",
    "OrthancPluginFindQuery": "FindQuery",
    "OrthancPluginFindAnswers": "FindAnswers",
    "OrthancPluginWorklistQuery": "WorklistQuery",
    "OrthancPluginWorklistAnswers": "WorklistAnswers",
    "OrthancPluginPeers": "Peers",
    "OrthancPluginJob": "Job",
    "OrthancPluginFindMatcher": "FindMatcher",
    "OrthancPluginServerChunkedRequestReader": "ServerChunkedRequestReader",
    "OrthancPluginDicomWebNode": "DicomWebNode",
    "OrthancPluginStorageArea": "StorageArea",
    "OrthancPluginKeysValuesIterator": "KeysValuesIterator",
    "OrthancPluginWebDavCollection": "WebDavCollection",  # no method, as in the official plugin 7.1
}

# Classes the older SDK headers lack: their handle type exists only in a build against a
# header at least this new (the Python class exists whatever the build).
CLASS_SINCE = {"KeysValuesIterator": "1.12.8", "WebDavCollection": "1.10.1"}

# Methods named after their class in C keep only the rest as their Python name, as the
# official plugin 7.1 names them (StorageArea.StorageAreaCreate -> StorageArea.Create,
# KeysValuesIterator.KeysValuesIteratorNext -> Next). The long names of the official 4.0
# and 5.0 stay as aliases: OLD_METHOD_NAMES.
OLD_METHOD_NAMES = {
    "StorageArea": ["StorageAreaCreate", "StorageAreaRead", "StorageAreaRemove"],
    "FindMatcher": ["FindMatcherIsMatch"],
}

# Classes that runtime/compat/__init__.py extends by hand: generated as <Name>Methods.
EXTENDED_BY_HAND = {"RestOutput"}

# The destructor of each object the plugin may own: called when Python drops it.
FREE = {
    "Image": "OrthancPluginFreeImage",
    "DicomInstance": "OrthancPluginFreeDicomInstance",
    "Peers": "OrthancPluginFreePeers",
    "Job": "OrthancPluginFreeJob",
    "FindMatcher": "OrthancPluginFreeFindMatcher",
    "KeysValuesIterator": "OrthancPluginFreeKeysValuesIterator",
}

# Written by hand, in runtime/compat/__init__.py (Python) or orthanc_native/src/sdk_api_extra.cpp (C++).
HAND_WRITTEN = {
    "RegisterRestCallback": "a callback: recorded in the registry, routes dispatched by the runtime",
    "RegisterOnChangeCallback": "a callback: recorded in the registry; several allowed, fed from the change log",
    "RegisterOnStoredInstanceCallback": "a callback: recorded in the registry; several allowed",
    "RegisterIncomingHttpRequestFilter": "a callback: recorded in the registry, as @http_filter",
    "RegisterReceivedInstanceCallback": "a callback: recorded in the registry, as @on_received_instance",
    "RegisterStorageArea": "callbacks: recorded in the registry, as storage_area()",
    "RegisterStorageArea2": "sdk_gates.cpp: the storage area of orthanc.RegisterStorageArea and StorageArea",
    "RegisterFindCallback2": "sdk_scp.cpp: orthanc.RegisterFindCallback2 and @on_find's connection "
                             "(Orthanc 1.12.10 and newer; built from the older callback before)",
    "RegisterWorklistCallback2": "sdk_scp.cpp: orthanc.RegisterWorklistCallback2 and @on_worklist's "
                                 "connection (the older callback before Orthanc 1.12.10)",
    "RegisterMoveCallback2": "sdk_scp.cpp: orthanc.RegisterMoveCallback3 (the official name) and "
                             "@on_move's connection (the older callback before Orthanc 1.12.10)",
    "RegisterStorageCommitmentScpCallback2": "sdk_scp.cpp: orthanc.RegisterStorageCommitmentScpCallback2 "
                                             "and @on_storage_commitment's connection",
    "GetConnectionRemoteAet": "runtime/callbacks/dicom.py: DicomConnection is a copied value, valid after the callback",
    "GetConnectionRemoteIp": "runtime/callbacks/dicom.py: DicomConnection; None where Orthanc (before 1.12.10) passes no IP",
    "GetConnectionCalledAet": "runtime/callbacks/dicom.py: DicomConnection is a copied value, valid after the callback",
    "StartStreamAnswer": "sdk_rest.cpp: RestOutput.StartStreamAnswer and routes whose body is a generator",
    "SendStreamChunk": "sdk_rest.cpp: RestOutput.SendStreamChunk and routes whose body is a generator",
    "RegisterStorageArea3": "sdk_gates.cpp: orthanc.RegisterStorageArea3, a storage area whose files "
                            "carry custom data (range reads)",
    "RegisterIncomingHttpRequestFilter2": "sdk_gates.cpp: the filters of orthanc.RegisterIncomingHttpRequestFilter and @http_filter",
    "RegisterFindCallback": "sdk_scp.cpp: orthanc.RegisterFindCallback and @on_find",
    "RegisterWorklistCallback": "sdk_scp.cpp: orthanc.RegisterWorklistCallback and @on_worklist",
    "RegisterMoveCallback": "sdk_scp.cpp: orthanc.RegisterMoveCallback(2) and @on_move",
    "RegisterStorageCommitmentScpCallback": "sdk_scp.cpp: orthanc.RegisterStorageCommitmentScpCallback "
                                            "and @on_storage_commitment",
    "RegisterIncomingCStoreInstanceFilter": "sdk_scp.cpp: orthanc.RegisterIncomingCStoreInstanceFilter "
                                            "and @cstore_filter",
    "CreateJob": "sdk_jobs.cpp: a job whose callbacks are Python's (runtime/jobs/callback_jobs.py, @job)",
    "RegisterJobsUnserializer": "sdk_jobs.cpp: Python jobs come back after a restart (runtime/jobs/callback_jobs.py, @job)",
    "AnswerBuffer": "answers are checked before Orthanc sees them (runtime/answers.py)",
    "SendHttpStatus": "answers are checked; both signatures of the official plugin (with and without the size)",
    "SendHttpStatusCode": "answers are checked (runtime/answers.py)",
    "SendMethodNotAllowed": "headers are checked for CR/LF/NUL",
    "Redirect": "headers are checked for CR/LF/NUL",
    "SendUnauthorized": "headers are checked for CR/LF/NUL",
    "SetCookie": "headers are checked for CR/LF/NUL",
    "SetHttpHeader": "headers are checked for CR/LF/NUL",
    "GetImageBuffer": "a raw pointer: its size is the pitch times the height",
    "GetInstanceData": "a raw pointer: its size is GetInstanceSize()",
    "GetInstanceMetadata": "hand-written since the first release of the runtime",
    "HasInstanceMetadata": "answers a bool",
    "HasInstancePixelData": "answers a bool",
    "GetFindQueryTag": "two output integers: bound as GetFindQueryTagGroup and GetFindQueryTagElement, "
                       "the official plugin's names",
    "LookupDictionary": "fills a structure: answers a dict, as the official plugin",
    "CreateImageAccessor": "a pointer Orthanc does not own: bound as CreateImageFromBuffer, which copies "
                           "the buffer into a new image, as the official plugin",
    "CallRestApi": "arrays of headers: sdk.rest_* and orthanc.CallRestApi answer (status, headers, body)",
    "RestApiGet2": "arrays of headers: orthanc.RestApiGet2(uri, headers, afterPlugins)",
    "HttpClient": "arrays of headers: orthanc.HttpClient(method, url, headers, body, username, "
                  "password, timeout) answers (status, headers, body); no client certificates",
    "CallPeerApi": "arrays of headers: Peers.CallPeerApi(index, method, uri, headers, body, timeout) "
                   "answers (status, headers, body)",
    "EncodeDicomWebJson": "a C callback decides bulk data: bound with binary values inline (base64)",
    "EncodeDicomWebXml": "a C callback decides bulk data: bound with binary values inline (base64)",
    "GetInstanceDicomWebJson": "a C callback decides bulk data: bound with binary values inline",
    "GetInstanceDicomWebXml": "a C callback decides bulk data: bound with binary values inline",
    "GetKeyValue": "an output flag: answers the value, or None when the store has no such key",
    "DequeueValue": "an output flag: answers the value, or None when the queue is empty",
    "GetQueueSize": "an output integer: answers the size",
    "ReserveQueueValue": "two outputs: answers (value, valueId), or (None, None) when the queue is empty",
    "KeysValuesIteratorNext": "an output flag: KeysValuesIterator.Next() answers it as a bool",
    "SetStableStatus": "an output flag: answers (0, statusHasChanged) as the official plugin",
    "AdoptDicomInstance": "three outputs: answers (instanceId, attachmentUuid, storeStatus); not in the "
                          "official plugin 7.1",
}

# Not bound, with the reason.
LEFT_OUT = {
    "FreeString": "memory management: the binding frees every string itself",
    "FreeMemoryBuffer": "memory management: the binding frees every buffer itself",
    "FreeMemoryBuffer64": "memory management: the binding frees every buffer itself",
    "CreateMemoryBuffer64": "a 64-bit buffer only a storage-area callback returns: sdk_gates.cpp makes it",
    "RegisterRestCallbackNoLock": "RegisterRestCallback already registers without Orthanc's lock",
    "RegisterIncomingDicomInstanceFilter": "RegisterReceivedInstanceCallback keeps, modifies or discards "
                                           "every received instance; not in the official plugin (4.0 to 7.1)",
    "RegisterDecodeImageCallback": "a C callback on Orthanc's decoding path; not in the official plugin (4.0 to 7.1)",
    "RegisterTranscoderCallback": "a C callback on Orthanc's transcoding path; not in the official plugin (4.0 to 7.1)",
    "RegisterRefreshMetricsCallback": "used by the runtime itself for its metrics; not in the official plugin (4.0 to 7.1)",
    "RegisterChunkedRestCallback": "chunked uploads: C callbacks; not in the official plugin (4.0 to 7.1)",
    "RegisterWebDavCollection": "WebDAV: a table of C callbacks; not in the official plugin (4.0 to 7.1)",
    "ChunkedHttpClient": "C callbacks that feed and drain the body; HttpGet/HttpPost cover the use",
    "EncodeDicomWebJson2": "a C callback decides bulk data: EncodeDicomWebJson covers it",
    "EncodeDicomWebXml2": "a C callback decides bulk data: EncodeDicomWebXml covers it",
    "SendMultipartItem2": "arrays of headers: a later issue; SendMultipartItem covers the common use",
    # Issue 24: the 7.0 DICOM callbacks and the streaming answers are another helper's.
    "CreateJob2": "C callbacks that fill memory buffers: CreateJob (sdk_jobs.cpp) runs Python jobs",
    "RegisterDatabaseBackendV4": "a database back-end is a C protocol of its own, not a script's",
    "RegisterHttpAuthentication": "a C callback with three outputs; not in the official plugin 7.1",
    "RegisterAuditLogHandler": "a C callback receiving every plugin's audit logs; not in the "
                               "official plugin 7.1",
}

# Names of the official plugin 7.1 that the `orthanc` module lacks still, with the reason
# (tests/integration/test_official_api.py allows these and no other).
NOT_YET: dict[str, str] = {}

# Functions that only the master may call, even though their arguments cross:
# they configure this plugin or Orthanc's registries, once, at start-up.
MASTER_ONLY = {
    "SetDescription": "describes this plugin to Orthanc",
    "SetRootUri": "sets this plugin's root URI",
    "ExtendOrthancExplorer": "extends Orthanc Explorer for this plugin",
    "RegisterErrorCode": "registers with Orthanc at start-up",
    "RegisterDictionaryTag": "registers with Orthanc at start-up",
    "RegisterPrivateDictionaryTag": "registers with Orthanc at start-up",
    "SetDescription2": "describes a plugin to Orthanc",
    "SetRootUri2": "sets a plugin's root URI",
    "ExtendOrthancExplorer2": "extends Orthanc Explorer for a plugin",
    "SetCurrentThreadName": "names the calling thread of Orthanc: a worker process has none",
    "ClearCurrentThreadName": "names the calling thread of Orthanc: a worker process has none",
}

# Objects that can cross to a worker by value (runtime/sdk/objects.py): a worker
# holds a copy, and the master rebuilds the object for each call it serves.
BY_VALUE = {"Image", "DicomInstance", "Peers", "FindMatcher", "KeysValuesIterator"}

# Python default values of trailing parameters, where the official plugin has one.
DEFAULTS: dict[str, dict[str, str]] = {}

# The official plugin's `orthanc` module as introspected inside a real Orthanc: 4.0 (Debian 12,
# Orthanc 1.10.1), 5.0 (Debian 13, Orthanc 1.12.7), 7.1 (Debian unstable, Orthanc 1.13.0),
# each {"functions": [...], "classes": {class: [methods]}, "enums": {enum: {member: value}}}.
OFFICIAL_API = Path(__file__).with_name("official_api.json")
OFFICIAL_VERSIONS = ("4.0", "5.0", "7.1")
NEWEST_OFFICIAL = "7.1"


def official_api(version: str = NEWEST_OFFICIAL) -> dict[str, Any]:
    """The official plugin's API of that version (see OFFICIAL_API)."""
    return json.loads(OFFICIAL_API.read_text())[version]  # type: ignore[no-any-return]

# The hand-written native calls (orthanc_native/src/sdk_api_extra.cpp), described
# here so that their Python wrappers, stubs and coverage are generated with the rest:
# name -> (class or "", [(parameter, Python type)], Python result type, summary).
EXTRA: dict[str, tuple[str, list[tuple[str, str]], str, str]] = {
    "GetImageBuffer": ("Image", [], "bytes", "The pixels of the image, pitch times height bytes."),
    "GetInstanceData": ("DicomInstance", [], "bytes", "The DICOM file of the instance."),
    "GetInstanceMetadata": ("DicomInstance", [("metadata", "str")], "str | None",
                            "A metadata of the instance, None if it has none of that name."),
    "HasInstanceMetadata": ("DicomInstance", [("metadata", "str")], "bool",
                            "Whether the instance has a metadata of that name."),
    "HasInstancePixelData": ("DicomInstance", [], "bool", "Whether the instance has pixel data."),
    "GetFindQueryTagGroup": ("FindQuery", [("index", "int")], "int",
                             "The group of the index-th tag of a C-FIND query."),
    "GetFindQueryTagElement": ("FindQuery", [("index", "int")], "int",
                               "The element of the index-th tag of a C-FIND query."),
    "LookupDictionary": ("", [("name", "str")], "dict[str, int]",
                         "The entry of Orthanc's DICOM dictionary for a tag name: Group, Element, "
                         "ValueRepresentation, MinMultiplicity, MaxMultiplicity."),
    "CreateImageFromBuffer": ("", [("format", "int"), ("width", "int"), ("height", "int"),
                                   ("pitch", "int"), ("buffer", "bytes")], "Image",
                              "A new image holding a copy of these pixels (pitch times height bytes)."),
    "RestApiGet2": ("", [("uri", "str"), ("headers", "dict[str, str]"), ("afterPlugins", "bool")],
                    "bytes", "GET on Orthanc's REST API with HTTP headers."),
    "HttpClient": ("", [("method", "int"), ("url", "str"), ("headers", "dict[str, str]"),
                        ("body", "bytes | str"), ("username", "str | None"),
                        ("password", "str | None"), ("timeout", "int")],
                   "tuple[int, dict[str, str], bytes]",
                   "An HTTP request from Orthanc: (status, headers, body), without raising on an "
                   "HTTP error."),
    "CallPeerApi": ("Peers", [("peerIndex", "int"), ("method", "int"), ("uri", "str"),
                              ("headers", "dict[str, str]"), ("body", "bytes | str"),
                              ("timeout", "int")],
                    "tuple[int, dict[str, str], bytes]",
                    "A call to the REST API of an Orthanc peer: (status, headers, body)."),
    "EncodeDicomWebJson": ("", [("dicom", "bytes")], "str",
                           "A DICOM file as DICOMweb JSON, binary values inline (base64)."),
    "EncodeDicomWebXml": ("", [("dicom", "bytes")], "str",
                          "A DICOM file as DICOMweb XML, binary values inline (base64)."),
    "GetInstanceDicomWebJson": ("DicomInstance", [], "str",
                                "The instance as DICOMweb JSON, binary values inline (base64)."),
    "GetInstanceDicomWebXml": ("DicomInstance", [], "str",
                               "The instance as DICOMweb XML, binary values inline (base64)."),
    "CallRestApi": ("", [("method", "int"), ("uri", "str"), ("headers", "dict[str, str]"),
                         ("body", "bytes"), ("afterPlugins", "bool")],
                    "tuple[int, dict[str, str], bytes]",
                    "Any call to Orthanc's REST API: (HTTP status, headers, body), without raising "
                    "on an HTTP error."),
    "GetKeyValue": ("", [("storeId", "str"), ("key", "str")], "bytes | None",
                    "The value of a key in a key-value store of Orthanc's database, None if absent."),
    "DequeueValue": ("", [("queueId", "str"), ("origin", "int")], "bytes | None",
                     "Removes and answers the value at the front or back (QueueOrigin) of a queue, "
                     "None if it is empty. A value lost if the caller fails: prefer ReserveQueueValue."),
    "GetQueueSize": ("", [("queueId", "str")], "int",
                     "The number of values in a queue, those reserved included."),
    "ReserveQueueValue": ("", [("queueId", "str"), ("origin", "int"), ("releaseTimeout", "int")],
                          "tuple[bytes, int] | tuple[None, None]",
                          "Reserves the value at the front or back of a queue for releaseTimeout "
                          "seconds: (value, valueId), or (None, None) if no value is free. "
                          "AcknowledgeQueueValue removes it; unacknowledged, it is free again "
                          "once the timeout has passed."),
    "KeysValuesIteratorNext": ("KeysValuesIterator", [], "bool",
                               "Moves to the next key; False once the store has no more."),
    "SetStableStatus": ("", [("resourceId", "str"), ("stableStatus", "int")], "tuple[int, int]",
                        "Forces a resource stable or unstable (StableStatus): (0, 1 if its status "
                        "changed else 0)."),
    "AdoptDicomInstance": ("", [("dicom", "bytes"), ("customData", "bytes")], "tuple[str, str, int]",
                           "Stores a DICOM file that a storage area already holds, with its custom "
                           "data: (instance ID, attachment UUID, StoreStatus)."),
}

# The Orthanc each hand-written call needs (as ORTHANC_PLUGIN_SINCE_SDK would say).
EXTRA_SINCE = {"GetKeyValue": "1.12.8", "DequeueValue": "1.12.8", "GetQueueSize": "1.12.8",
               "ReserveQueueValue": "1.12.10", "KeysValuesIteratorNext": "1.12.8",
               "SetStableStatus": "1.12.9", "AdoptDicomInstance": "1.12.8"}

# Parameters that may be None (a null pointer the SDK accepts).
NULLABLE = {"username", "password", "privateCreator", "pixelData"}

# Notes of the coverage table, by official name.
NOTES = {
    "RegisterRestCallback": "one callback per pattern: a second raises ValueError naming both",
    "RegisterOnChangeCallback": "several callbacks allowed; fed from Orthanc's change log",
    "RegisterOnStoredInstanceCallback": "several callbacks allowed",
    "GetConfiguration": "JSON text, as the official plugin",
    "SendHttpStatus": "both signatures: (status, body) and (status, body, size); a status Orthanc "
                      "cannot send answers 500 JSON naming it",
    "SetCookie": "CR, LF or NUL in the name or value: the request answers 500 JSON naming it",
    "SetHttpHeader": "CR, LF or NUL in the name or value: the request answers 500 JSON naming it",
}

# Stubs of what is written by hand in runtime/compat/__init__.py.
PYI_METHODS = {
    "RestOutput": [
        "def StartStreamAnswer(self, mimeType: str) -> None: ...",
        "def SendStreamChunk(self, data: bytes | str) -> None: ...",
        "def AnswerBuffer(self, answer: bytes | str, mimeType: str) -> None: ...",
        "def SendHttpStatus(self, status: int, body: bytes | str, bodySize: int | None = None) -> None: ...",
        "def SendHttpStatusCode(self, status: int) -> None: ...",
        "def SendMethodNotAllowed(self, allowedMethods: str) -> None: ...",
        "def Redirect(self, redirection: str) -> None: ...",
        "def SendUnauthorized(self, realm: str) -> None: ...",
        "def SetCookie(self, cookie: str, value: str) -> None: ...",
        "def SetHttpHeader(self, key: str, value: str) -> None: ...",
    ],
}
# Stubs of the classes written by hand in Python (runtime/callbacks/dicom.py).
PYI_CLASSES = {
    "DicomConnection": [
        "remote_aet: str",
        "called_aet: str",
        "remote_ip: str | None",
        "def GetConnectionRemoteAet(self) -> str: ...",
        "def GetConnectionCalledAet(self) -> str: ...",
        "def GetConnectionRemoteIp(self) -> str | None: ...",
    ],
}

PYI_FUNCTIONS = [
    "def RegisterFindCallback2(callback: Callable[[FindAnswers, FindQuery, DicomConnection], None]) "
    "-> None: ...",
    "def RegisterWorklistCallback2(callback: Callable[[WorklistAnswers, WorklistQuery, DicomConnection], "
    "None]) -> None: ...",
    "def RegisterMoveCallback3(createMoveCallback: Callable[..., Any], getMoveSizeCallback: "
    "Callable[[Any], int], applyMoveCallback: Callable[[Any], Any], freeMoveCallback: "
    "Callable[[Any], None]) -> None: ...",
    "def RegisterStorageCommitmentScpCallback2(factory: Callable[[str, str, list[str], list[str], "
    "DicomConnection], Any], lookup: Callable[[str, str, Any], int]) -> None: ...",
    "def RegisterStorageArea3(create: Callable[..., tuple[int, bytes | None]], "
    "read: Callable[..., tuple[int, bytes | None]], remove: Callable[..., int]) -> None: ...",
    "def RegisterRestCallback(pathRegularExpression: str, callback: Callable[..., None]) -> None: ...",
    "def RegisterOnChangeCallback(callback: Callable[[int, int, str], None]) -> None: ...",
    "def RegisterOnStoredInstanceCallback(callback: Callable[[DicomInstance, str], None]) -> None: ...",
    "def RegisterIncomingHttpRequestFilter(callback: Callable[..., bool]) -> None: ...",
    "def RegisterReceivedInstanceCallback(callback: Callable[..., Any]) -> None: ...",
    "def RegisterStorageArea(create: Callable[..., Any], read: Callable[..., Any], "
    "remove: Callable[..., Any]) -> None: ...",
    "def RegisterFindCallback(callback: Callable[[FindAnswers, FindQuery, str, str], None]) -> None: ...",
    "def RegisterWorklistCallback(callback: Callable[[WorklistAnswers, WorklistQuery, str, str], None]) -> None: ...",
    "def RegisterMoveCallback(callback: Callable[..., None]) -> None: ...",
    "def RegisterMoveCallback2(createMoveCallback: Callable[..., Any], getMoveSizeCallback: Callable[[Any], int], "
    "applyMoveCallback: Callable[[Any], Any], freeMoveCallback: Callable[[Any], None]) -> None: ...",
    "def RegisterStorageCommitmentScpCallback(factory: Callable[..., Any], "
    "lookup: Callable[[str, str, Any], int]) -> None: ...",
    "def RegisterIncomingCStoreInstanceFilter(callback: Callable[[DicomInstance], int]) -> None: ...",
    "def GetOrthancVersion() -> str: ...",
]

"""A journal of new instances, written by a thread of its own.

The change callback only hands the change over: the thread reads the instance's tags
through the REST API and logs a line, so that the callback returns at once and the REST
call is not made from within Orthanc's change handling.
"""

import json
import threading

import orthanc


def write_entry(instance_id):
    tags = json.loads(orthanc.RestApiGet(f"/instances/{instance_id}"))["MainDicomTags"]
    uid = tags.get("SOPInstanceUID", "?")
    orthanc.LogWarning(f"journal: new instance {instance_id}, SOP instance UID {uid}")


def on_change(change, level, resource):
    if change == orthanc.ChangeType.NEW_INSTANCE:
        threading.Thread(target=write_entry, args=(resource,), daemon=True).start()


orthanc.RegisterOnChangeCallback(on_change)

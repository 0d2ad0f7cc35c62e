"""A feed of Orthanc's life cycle and new instances, and an import when Orthanc starts.

When Orthanc has started, the files listed in ``ImportOnStartup`` (a key of Orthanc's
configuration) are stored through the REST API: the reference images every site keeps.
"""

import json

import orthanc


def import_reference_files():
    for path in json.loads(orthanc.GetConfiguration()).get("ImportOnStartup", []):
        with open(path, "rb") as reference:
            stored = json.loads(orthanc.RestApiPost("/instances", reference.read()))
        orthanc.LogWarning(f"feed: imported {path} as {stored['ID']}")


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STARTED:
        orthanc.LogWarning("feed: Orthanc is up")
        import_reference_files()
    elif change == orthanc.ChangeType.NEW_INSTANCE:
        orthanc.LogWarning(f"feed: new instance {resource}")
    elif change == orthanc.ChangeType.ORTHANC_STOPPED:
        orthanc.LogWarning("feed: Orthanc is going down")


orthanc.RegisterOnChangeCallback(on_change)

"""Auto-routing's baseline for the official plugin (P10), written by this project.

On each stable study, a synchronous C-STORE of the study to the modality "sample" from
the on-change callback, as the official documentation shows it: the callback's thread
waits for the transfer.
"""

import orthanc


def route_stable_studies(change, level, resource):
    if change != orthanc.ChangeType.STABLE_STUDY:
        return
    print(f"Stable study: {resource}")
    orthanc.RestApiPost("/modalities/sample/store", resource)


orthanc.RegisterOnChangeCallback(route_stable_studies)

"""Site libraries on ``sys.path``: the folders of ``SiteLibraries``, a list in Orthanc's
configuration, go first, so the scripts import the department's own modules (here
``site_codes``, the department's code tables) from there rather than from the system.
"""

import json
import sys

import orthanc

folders = json.loads(orthanc.GetConfiguration()).get("SiteLibraries", [])
orthanc.LogWarning(f"sys.path before: {sys.path}")
for folder in reversed(folders):
    if folder not in sys.path:
        sys.path.insert(0, folder)
orthanc.LogWarning(f"sys.path after: {sys.path}")

import site_codes  # noqa: E402  (found through the folders above)

orthanc.LogWarning(f"site_codes {site_codes.VERSION} loaded from {site_codes.__file__}")

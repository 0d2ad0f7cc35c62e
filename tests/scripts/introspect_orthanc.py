# Writes the shape of the `orthanc` module (functions, classes and their
# methods, enumerations and their values) as JSON, to the file named by the
# configuration's "IntrospectionOutput". Runs unchanged in the official plugin
# and in ours: tests/integration/test_official_api.py compares the two.
import json

import orthanc


def shape():
    result = {"functions": [], "classes": {}, "enums": {}}
    for name in dir(orthanc):
        if name.startswith("__"):
            continue
        value = getattr(orthanc, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            result["classes"][name] = []
        elif isinstance(value, type):
            members = {m: getattr(value, m) for m in dir(value) if not m.startswith("_")}
            values = {m: int(v) for m, v in members.items() if isinstance(v, int)}
            if values:
                result["enums"][name] = values
            else:
                result["classes"][name] = sorted(m for m, v in members.items() if callable(v))
        elif callable(value):
            result["functions"].append(name)
    return result


path = json.loads(orthanc.GetConfiguration())["IntrospectionOutput"]
with open(path + ".part", "w") as file:
    json.dump(shape(), file, indent=1, sort_keys=True)
import os  # noqa: E402  (kept apart: the official plugin's scripts are plain files)

os.replace(path + ".part", path)

"""An inventory of the ``orthanc`` module, for the team that ports our scripts.

When loaded, the script writes ``orthanc-api.json`` in Orthanc's working folder: the
module's functions (with the first line of their documentation), and for each class its
methods and its enumeration values, so two plugin versions can be compared with ``diff``.
"""

import inspect
import json

import orthanc


def first_line(member):
    return (inspect.getdoc(member) or "").split("\n")[0]


def describe_class(cls):
    values, methods = {}, {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(member, int):
            values[name] = int(member)
        elif callable(member):
            methods[name] = first_line(member)
    return {"doc": first_line(cls), "values": values, "methods": methods}


functions, classes = {}, {}
for name, member in inspect.getmembers(orthanc):
    if name.startswith("_"):
        continue
    if inspect.isclass(member):
        classes[name] = describe_class(member)
    elif inspect.isroutine(member):
        functions[name] = first_line(member)

with open("orthanc-api.json", "w") as inventory:
    json.dump({"functions": functions, "classes": classes}, inventory, indent=2, sort_keys=True)
orthanc.LogWarning(f"API inventory: {len(functions)} functions and {len(classes)} classes "
                   "in orthanc-api.json")

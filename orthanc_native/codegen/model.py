"""The model of the SDK: OrthancCPlugin.h read with libclang into plain data.

A function's parameters are classified into a few kinds, each with one way to
cross between Python and C (see KINDS); a function whose parameters or result
fall outside them is kept in the model as "unsupported", with the reason, so
that the coverage table can say why it is not bound. The model is data: it is
written to ``sdk_model.json`` beside the generated files and read back by the
runtime (which functions a worker may call), without libclang.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import rules

ROOT = Path(__file__).resolve().parents[2]
# The newest SDK header: Debian unstable's orthanc-dev (Orthanc 1.13.0), in the root that
# `make roots` extracts. ORTHANC_SDK_HEADER names another header.
NEWEST_HEADER = ROOT / "build/roots/sid/usr/include/orthanc/OrthancCPlugin.h"
HEADER_VARIABLE = "ORTHANC_SDK_HEADER"
# The oldest Orthanc the plugin loads into: a function or enum member no newer needs no guard.
OLDEST = (1, 10, 0)


def header_path() -> Path:
    """The header the model is read from: $ORTHANC_SDK_HEADER, else the newest (sid's)."""
    named = os.environ.get(HEADER_VARIABLE)
    path = Path(named) if named else NEWEST_HEADER
    if not path.is_file():
        where = f"${HEADER_VARIABLE} names {path}" if named else f"{path} is missing"
        raise FileNotFoundError(
            f"no Orthanc SDK header to generate from: {where}. Run `make roots` to extract "
            f"Debian unstable's root (orthanc-dev 1.13.0), or set {HEADER_VARIABLE} to an "
            "OrthancCPlugin.h")
    return path


def header_label(path: Path) -> str:
    """How the generated files name the header: relative to the repository when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def version_tuple(since: str) -> tuple[int, int, int]:
    major, minor, revision = (int(x) for x in since.split("."))
    return major, minor, revision


def is_newer_than_oldest(since: str) -> bool:
    """Whether a function or member annotated ``since`` needs a guard (older Orthanc lack it)."""
    return bool(since) and version_tuple(since) > OLDEST

# Parameter kinds: str (const char*), bytes (a const pointer and its size, one
# Python argument), int, float, enum (an int of one of the SDK's enums), object
# (an opaque SDK object, which is a Python class), image_buffer (pixels whose
# size is the pitch times the height, as bytes), out_buffer (an
# OrthancPluginMemoryBuffer the call fills: the result, as bytes).
# Result kinds: void, error (OrthancPluginErrorCode: raise on failure),
# owned_str (char*, freed by us), borrowed_str (const char*, Orthanc's), int,
# enum, object (a new object we own and free).
INTEGERS = {"int", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t"}


@dataclass
class Param:
    name: str
    c_type: str
    kind: str
    enum: str = ""   # the enum's Python name, for kind "enum"
    cls: str = ""    # the class's Python name, for kind "object"
    size_name: str = ""  # for kind "bytes": the C name of the size parameter
    size_type: str = ""
    doc: str = ""  # the header's @param text


@dataclass
class Function:
    c_name: str           # OrthancPluginDrawText
    name: str             # DrawText
    result_c_type: str
    result: str           # a result kind, or "unsupported"
    result_cls: str = ""  # for result "object"
    result_enum: str = ""
    params: list[Param] = field(default_factory=list)   # as Python sees them, self first
    owner: str = ""       # the class this function is a method of ("" for a module function)
    brief: str = ""
    unsupported: str = ""  # why it is not bound mechanically ("" if it is)
    since: str = ""       # ORTHANC_PLUGIN_SINCE_SDK("x.y.z"), "" for a function older than 1.0

    @property
    def out_buffer(self) -> bool:
        return any(p.kind == "out_buffer" for p in self.params)

    @property
    def python_params(self) -> list[Param]:
        """The parameters a Python caller passes (self included for a method)."""
        return [p for p in self.params if p.kind != "out_buffer"]


@dataclass
class Enum:
    c_name: str
    name: str
    members: list[tuple[str, int, str]]  # (Python name, value, C name)
    since: str = ""  # the enumeration's ORTHANC_PLUGIN_SINCE_SDK
    member_since: dict[str, str] = field(default_factory=dict)  # Python name -> since, if newer


@dataclass
class Model:
    header: str
    orthanc_version: str
    functions: list[Function]
    enums: list[Enum]
    classes: dict[str, str]  # C struct name -> Python class name

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "orthanc_version": self.orthanc_version,
                "classes": self.classes,
                "enums": [asdict(e) for e in self.enums],
                "functions": [asdict(f) for f in self.functions]}


def member_name(c_name: str, enum_c_name: str) -> str:
    """``OrthancPluginErrorCode_NoCFindHandler`` -> ``NO_CFIND_HANDLER``.

    One rule gives every name of the official plugin: an underscore before a
    capital that follows a lower-case letter or a digit; runs of capitals stay
    together (``SQLiteNotOpened`` -> ``SQLITE_NOT_OPENED``).
    """
    short = c_name[len(enum_c_name) + 1:]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", short).upper()


def brief_of(raw: str | None) -> str:
    """The @brief paragraph of a doxygen comment, on one line."""
    if not raw:
        return ""
    text = re.sub(r"^\s*(/\*\*|\*/|\*\*/|\*)", "", raw, flags=re.M)
    match = re.search(r"@brief\s+(.*?)(?:\n\s*\n|@)", text, flags=re.S)
    return " ".join(match.group(1).split()) if match else ""


def params_of(raw: str | None) -> dict[str, str]:
    """The @param texts of a doxygen comment, by parameter name, each on one line."""
    if not raw:
        return {}
    text = re.sub(r"^\s*(/\*\*|\*/|\*\*/|\*)", "", raw, flags=re.M)
    return {m.group(1): " ".join(m.group(2).split())
            for m in re.finditer(r"@param\s+(\w+)\s+(.*?)(?=\n\s*\n|@|\Z)", text, flags=re.S)}


def _base_type(spelling: str) -> str:
    return spelling.replace("const ", "").replace("*", "").strip()


def since_of(cursor: Any) -> str:
    """The version of an ORTHANC_PLUGIN_SINCE_SDK annotation (libclang: an ANNOTATE_ATTR child)."""
    import clang.cindex as ci

    for child in cursor.get_children():
        if child.kind == ci.CursorKind.ANNOTATE_ATTR:
            match = re.fullmatch(r"ORTHANC_PLUGIN_SINCE_SDK\s+(\d+\.\d+\.\d+)", child.spelling)
            if match:
                return match.group(1)
    return ""


def parse(header: Path | None = None, include: str | None = None) -> Model:
    import clang.cindex as ci

    header = header or header_path()

    args = ["-x", "c", "-std=c99"]
    if include:
        args.append(f"-I{include}")
    unit = ci.Index.create().parse(str(header), args=args)
    errors = [d for d in unit.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        raise RuntimeError(f"libclang could not parse {header}: {errors[0]}")

    enums: list[Enum] = []
    functions: list[Function] = []
    for cursor in unit.cursor.get_children():
        if not (cursor.location.file and cursor.location.file.name == str(header)):
            continue
        if cursor.kind == ci.CursorKind.ENUM_DECL and cursor.spelling.startswith("OrthancPlugin"):
            c_name = cursor.spelling
            constants = [e for e in cursor.get_children()
                         if e.kind == ci.CursorKind.ENUM_CONSTANT_DECL and not e.spelling.startswith("_")]
            members = [(member_name(e.spelling, c_name), e.enum_value, e.spelling) for e in constants]
            since = since_of(cursor)
            # A member is as new as its enumeration, or newer.
            member_since = {member_name(e.spelling, c_name): max(
                (since_of(e), since), key=lambda v: version_tuple(v) if v else (0, 0, 0))
                for e in constants}
            enums.append(Enum(c_name, c_name[len("OrthancPlugin"):], members, since,
                              {k: v for k, v in member_since.items() if v}))
    enum_names = {e.c_name: e.name for e in enums}
    for cursor in unit.cursor.get_children():
        if not (cursor.location.file and cursor.location.file.name == str(header)):
            continue
        if cursor.kind == ci.CursorKind.FUNCTION_DECL and cursor.spelling.startswith("OrthancPlugin"):
            raw = [(a.spelling, a.type.spelling) for a in cursor.get_arguments()]
            if raw and raw[0][1] in ("OrthancPluginContext *", "const OrthancPluginContext *"):
                raw = raw[1:]
            else:
                continue  # not an SDK call (OrthancPluginInitialize and the like)
            function = _function(cursor.spelling, cursor.result_type.spelling, raw,
                                 brief_of(cursor.raw_comment), enum_names)
            function.since = since_of(cursor)
            docs = params_of(cursor.raw_comment)
            for param in function.params:
                param.doc = docs.get(param.name, "")
            functions.append(function)
    version = re.search(r"ORTHANC_PLUGINS_MINIMAL_MAJOR_NUMBER\s+(\d+).*?MINOR_NUMBER\s+(\d+)"
                        r".*?REVISION_NUMBER\s+(\d+)", header.read_text(), flags=re.S)
    return Model(header_label(header), ".".join(version.groups()) if version else "?", functions, enums,
                 dict(rules.CLASSES))


def _function(c_name: str, result: str, raw: list[tuple[str, str]], brief: str,
              enum_names: dict[str, str]) -> Function:
    name = c_name[len("OrthancPlugin"):]
    function = Function(c_name, name, result, "unsupported", brief=brief)
    problems: list[str] = []
    params: list[Param] = []
    i = 0
    while i < len(raw):
        pname, ctype = raw[i]
        base = _base_type(ctype)
        following = raw[i + 1] if i + 1 < len(raw) else None
        if ctype in ("const void *", "const char *") and following and \
                following[1] in ("uint32_t", "uint64_t") and \
                (following[0].lower().endswith("size") or following[0] == "size"):
            params.append(Param(pname, ctype, "bytes", size_name=following[0],
                                size_type=following[1]))
            i += 2
            continue
        if ctype == "const void *" and params and params[-1].name == "pitch":
            # An image's pixels: their size is pitch * height, checked before the call.
            params.append(Param(pname, ctype, "image_buffer"))
        elif ctype == "const char *":
            params.append(Param(pname, ctype, "str"))
        elif ctype in INTEGERS:
            params.append(Param(pname, ctype, "int"))
        elif ctype == "float":
            params.append(Param(pname, ctype, "float"))
        elif ctype in enum_names:
            params.append(Param(pname, ctype, "enum", enum=enum_names[ctype]))
        elif ctype.endswith("*") and base in rules.CLASSES and ctype.count("*") == 1:
            params.append(Param(pname, ctype, "object", cls=rules.CLASSES[base]))
        elif ctype == "OrthancPluginMemoryBuffer *" and not any(p.kind == "out_buffer" for p in params):
            params.append(Param(pname, ctype, "out_buffer"))
        else:
            problems.append(f"parameter {pname} ({ctype})")
            params.append(Param(pname, ctype, "unsupported"))
        i += 1
    function.params = params

    rbase = _base_type(result)
    if result == "void":
        function.result = "void"
    elif result == "OrthancPluginErrorCode":
        function.result = "error"
    elif result == "char *":
        function.result = "owned_str"
    elif result == "const char *":
        function.result = "borrowed_str"
    elif result in INTEGERS:
        function.result = "int"
    elif result in enum_names:
        function.result, function.result_enum = "enum", enum_names[result]
    elif result.endswith("*") and rbase in rules.CLASSES and not result.startswith("const"):
        function.result, function.result_cls = "object", rules.CLASSES[rbase]
    else:
        problems.append(f"result ({result})")
    if function.out_buffer and function.result not in ("error",):
        problems.append("a memory buffer filled by a call that does not return an error code")

    # A method of the class of its first object parameter, when nothing but the
    # buffer it fills comes before it (the official plugin's rule too).
    for p in params:
        if p.kind == "out_buffer":
            continue
        if p.kind == "object":
            function.owner = p.cls
        break
    function.unsupported = "; ".join(problems)
    return function

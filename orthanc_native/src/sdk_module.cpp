// The built-in module `_orthanc_native`: one definition calling the initialiser of each SDK
// area, added to Python's table of built-in modules just before this plugin starts Python.
//
// Not at the library's load (pybind11's PYBIND11_EMBEDDED_MODULE does it then): a Python
// started by another plugin loaded before this one (Debian's orthanc-python running a
// script) makes that registration throw in a static constructor, and Orthanc aborts. Here
// the plugin refuses to start instead, saying why.
#include "native.hpp"

namespace ort {
namespace {

void define_module(py::module_& m) {
  m.doc() = "Thin binding of the Orthanc plugin SDK for orthanc-runtime (only inside Orthanc)";
  init_errors(m);
  init_api(m);  // first: the handle classes that RestOutput and DicomInstance extend
  init_api_extra(m);
  init_rest(m);
  init_route_gate(m);
  init_fast_path(m);
  init_inline_path(m);
  init_events(m);
  init_misc(m);
  init_gates(m);
  init_jobs(m);
  init_scp(m);
}

PyObject* create_module() {
  static py::module_::module_def definition;
  auto module = py::module_::create_extension_module("_orthanc_native", nullptr, &definition);
  try {
    define_module(module);
    return module.ptr();  // the module_ handle lets go of its own reference only
  }
  PYBIND11_CATCH_INIT_EXCEPTIONS
}

}  // namespace

bool add_native_module(std::string& why) {
  static bool added = false;
  if (added) return true;
  if (Py_IsInitialized()) {
    why = "Python is already running in this Orthanc, started by a plugin loaded before this "
          "one (Debian's orthanc-python runs a \"PythonScript\" in it, for instance). "
          "orthanc-runtime needs an interpreter of its own: remove the other Python plugin "
          "from the plugins Orthanc loads, or the script it runs";
    return false;
  }
  if (PyImport_AppendInittab("_orthanc_native", &create_module) != 0) {
    why = "Python's table of built-in modules could not take _orthanc_native";
    return false;
  }
  added = true;
  return true;
}

}  // namespace ort

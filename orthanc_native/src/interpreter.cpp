// Embeds the CPython of a virtual environment.
//
// PyConfig.executable is set to the venv's python, so that sys.executable is
// that python (multiprocessing starts its fork server and workers with it,
// never with the Orthanc binary) and site.py finds the venv's pyvenv.cfg and
// site-packages. libpython is reloaded RTLD_GLOBAL first: C extension modules
// (math, _ctypes, Pillow, numpy) resolve their Python symbols globally.
#include "native.hpp"

#include <dlfcn.h>

namespace ort {

namespace {
PyThreadState* g_main_thread = nullptr;
}

bool start_interpreter(const std::string& python_executable, std::string& error) {
  if (!dlopen(ORT_PYTHON_SONAME, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
    // Not fatal by itself: extension modules may still load, so say why if
    // they do not.
    const char* why = dlerror();
    log_warning(std::string("orthanc-runtime: could not make ") + ORT_PYTHON_SONAME +
                " global: " + (why ? why : "unknown reason"));
  }

  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  // Orthanc owns SIGINT and SIGTERM: Python must not take them over.
  config.install_signal_handlers = 0;
  config.parse_argv = 0;
  PyStatus status = PyConfig_SetBytesString(&config, &config.executable, python_executable.c_str());
  if (!PyStatus_Exception(status)) {
    status = PyConfig_SetBytesString(&config, &config.program_name, python_executable.c_str());
  }
  if (!PyStatus_Exception(status)) {
    status = Py_InitializeFromConfig(&config);
  }
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    error = std::string("cannot initialise Python from ") + python_executable + ": " +
            (status.err_msg ? status.err_msg : "unknown error");
    return false;
  }
  // The thread that initialised Python keeps no GIL: Orthanc's threads take
  // it in each callback.
  g_main_thread = PyEval_SaveThread();
  set_python_alive(true);
  return true;
}

void stop_interpreter() {
  if (!g_main_thread) return;
  set_python_alive(false);
  PyEval_RestoreThread(g_main_thread);
  g_main_thread = nullptr;
  clear_hooks();
  if (Py_FinalizeEx() != 0) {
    log_warning("orthanc-runtime: Python finalisation reported an error");
  }
}

}  // namespace ort

// Embeds the CPython of a virtual environment.
//
// The interpreter lives as long as the Orthanc process: when Orthanc restarts
// itself (POST /tools/reset) it finalises and initialises its plugins again
// in the same process, and many extension modules (PyO3's, numpy) cannot be
// initialised twice. So the plugin library pins itself in memory, a stop only
// stops the runtime, and the interpreter is finalised once, at process exit.
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
std::string g_python_executable;

void finalize_at_exit() {
  if (!g_main_thread) return;
  set_python_alive(false);
  PyEval_RestoreThread(g_main_thread);
  g_main_thread = nullptr;
  clear_hooks();
  Py_FinalizeEx();  // Orthanc's log is gone by now: nothing to report to
}

// Keeps this library loaded when Orthanc unloads its plugins for a restart,
// so that the interpreter and this file's state survive until process exit.
void pin_this_library() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&finalize_at_exit), &info) && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}
}  // namespace

bool interpreter_running() { return g_main_thread != nullptr; }

const std::string& interpreter_executable() { return g_python_executable; }

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
  // print() in a script lands in Orthanc's output as it happens, not when a
  // buffer fills (Orthanc's output is a file or a journal, rarely a terminal).
  config.buffered_stdio = 0;
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
  g_python_executable = python_executable;
  pin_this_library();
  std::atexit(finalize_at_exit);
  return true;
}

}  // namespace ort

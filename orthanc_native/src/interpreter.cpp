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
//
// Callbacks on a thread with a small stack run Python on a stack of their own
// (callback_stack.hpp); Python 3.14, which checks recursion against the real
// stack, is told where that stack is. Its functions for that
// (PyUnstable_ThreadState_SetStackProtection/ResetStackProtection) came with
// 3.14.1: they are looked up when the interpreter starts, and without them the
// threads keep their own stack (3.14.0 then fails as the official plugin does).
//
// Which python: a plugin built for the developer's venv embeds that venv's path
// (ORT_PYTHON_EXECUTABLE); a plugin built for a wheel (ORT_WHEEL) carries no path of
// the machine it was built on and finds, at run time, the venv it was installed
// into: the real path of this library (a symlink in Orthanc's plugins folder
// resolves to it), then the nearest folder above holding pyvenv.cfg, whose
// bin/python is the interpreter.
#include "native.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace ort {

namespace {
PyThreadState* g_main_thread = nullptr;
std::string g_python_executable;

using SetStackProtection = int (*)(PyThreadState*, void*, size_t);
using ResetStackProtection = void (*)(PyThreadState*);
SetStackProtection g_set_stack_protection = nullptr;
ResetStackProtection g_reset_stack_protection = nullptr;

// Whether Python can run on a stack other than its thread's: always before
// 3.14 (Python never looks at the stack), from 3.14 if it can be told.
bool python_follows_stack_switches() {
  if (PY_VERSION_HEX < 0x030E0000) return true;
  g_set_stack_protection = reinterpret_cast<SetStackProtection>(
      dlsym(RTLD_DEFAULT, "PyUnstable_ThreadState_SetStackProtection"));
  g_reset_stack_protection = reinterpret_cast<ResetStackProtection>(
      dlsym(RTLD_DEFAULT, "PyUnstable_ThreadState_ResetStackProtection"));
  return g_set_stack_protection && g_reset_stack_protection;
}

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

void python_follows_callback_stack() {
  thread_local void* told = nullptr;  // the callback stack Python was last told of
  StackRange stack = current_callback_stack();
  if (stack.lowest == told || !g_set_stack_protection) return;
  told = stack.lowest;
  PyThreadState* state = PyThreadState_Get();
  if (!stack.lowest) {
    g_reset_stack_protection(state);  // back on the thread's own stack
  } else if (g_set_stack_protection(state, stack.lowest, stack.size) != 0) {
    PyErr_Clear();  // too small a stack cannot happen: 8 MiB is far above Python's minimum
  }
}

const std::string& interpreter_executable() { return g_python_executable; }

bool python_of_own_venv(std::string& python, std::string& why) {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&finalize_at_exit), &info) || !info.dli_fname) {
    why = "dladdr() cannot tell which file this plugin was loaded from";
    return false;
  }
  char* real = realpath(info.dli_fname, nullptr);
  if (!real) {
    why = std::string("cannot resolve the plugin's path ") + info.dli_fname + ": " +
          std::strerror(errno);
    return false;
  }
  const std::filesystem::path library(real);
  std::free(real);
  std::error_code ignored;
  for (auto folder = library.parent_path(); !folder.empty(); folder = folder.parent_path()) {
    if (std::filesystem::is_regular_file(folder / "pyvenv.cfg", ignored)) {
      const auto candidate = folder / "bin" / "python";
      if (access(candidate.c_str(), X_OK) != 0) {
        why = "the virtual environment " + folder.string() + " (its pyvenv.cfg) has no " +
              "executable bin/python: " + std::strerror(errno);
        return false;
      }
      python = candidate.string();
      return true;
    }
    if (folder == folder.root_path()) break;
  }
  why = "the plugin " + library.string() + " is not inside a virtual environment (no " +
        "pyvenv.cfg in any folder above it): install the wheel into a venv (python3 -m venv " +
        "DIR && DIR/bin/pip install orthanc-runtime) and load the plugin from there, or name " +
        "the interpreter with \"PythonRuntime\": {\"Python\": \"DIR/bin/python\"}";
  return false;
}

bool library_fits(const std::string& python_executable, std::string& why) {
  // The venv's pyvenv.cfg says which Python made it ("version = 3.11.7"): the standard
  // library and its extension modules this plugin will import are that Python's. A plugin
  // loaded before this one may have brought its own libpython of the same name (Debian's
  // orthanc-python: libpython3.11.so.1.0, 3.11.2), which the dynamic linker then gives this
  // plugin too; the extension modules of another patch release fail on it, one by one, long
  // after the start (3.11.7's _ssl needs _PyModule_Add, which 3.11.2 lacks).
  const auto venv = std::filesystem::path(python_executable).parent_path().parent_path();
  std::ifstream config(venv / "pyvenv.cfg");
  std::string line, made_by;
  while (std::getline(config, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    auto key = line.substr(0, equals);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != "version" && key != "version_info") continue;
    made_by = line.substr(line.find_first_not_of(" \t", equals + 1));
    made_by.erase(made_by.find_last_not_of(" \t\r") + 1);
  }
  const std::string loaded_full = Py_GetVersion();
  // "3.14.0rc3 (main, ...)": pyvenv.cfg has the numbers only.
  const std::string loaded = loaded_full.substr(0, loaded_full.find_first_not_of("0123456789."));
  if (made_by.empty() || made_by == loaded) return true;  // no venv, or the same Python
  why = "the Python library in this Orthanc is " + loaded + ", and the virtual environment " +
        venv.string() + " is of Python " + made_by + ": a plugin loaded before this one " +
        "(Debian's orthanc-python, for instance) brought its own libpython of the same name, " +
        "which the process shares. Remove that plugin from the plugins Orthanc loads, or run " +
        "orthanc-runtime from a virtual environment of the Python that plugin uses";
  return false;
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
  if (python_follows_stack_switches()) {
    enable_callback_stacks(true);
  } else {
    log_warning("orthanc-runtime: this Python 3.14 cannot be told of another stack (it lacks "
                "PyUnstable_ThreadState_SetStackProtection, new in 3.14.1): Python runs on the "
                "100 KiB stacks of Orthanc's HTTP threads, where imports and compiles can fail "
                "with \"Parser stack overflowed\"");
  }
  g_main_thread = PyEval_SaveThread();
  g_python_executable = python_executable;
  pin_this_library();
  std::atexit(finalize_at_exit);
  return true;
}

}  // namespace ort

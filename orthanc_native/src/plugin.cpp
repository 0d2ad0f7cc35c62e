// The Orthanc plugin entry points: version check, the configuration that is
// needed before Python runs (which python to embed), the interpreter, then
// runtime.plugin does the rest in Python.
#include "native.hpp"
#include "sdk_version.hpp"

#include <nlohmann/json.hpp>

#include <memory>

namespace ort {

namespace {
OrthancPluginContext* g_context = nullptr;
std::atomic<bool> g_alive{false};
Hooks* g_hooks = nullptr;
bool g_started = false;
}  // namespace

OrthancPluginContext* context() { return g_context; }
void set_context(OrthancPluginContext* c) { g_context = c; }
bool python_alive() { return g_alive.load(std::memory_order_acquire); }
void set_python_alive(bool alive) { g_alive.store(alive, std::memory_order_release); }

Hooks* hooks() {
  if (!g_hooks) g_hooks = new Hooks();
  return g_hooks;
}

void clear_hooks() {
  delete g_hooks;  // needs the GIL: the py::object members drop references
  g_hooks = nullptr;
}

void log_info(const std::string& message) { OrthancPluginLogInfo(g_context, message.c_str()); }
void log_warning(const std::string& message) { OrthancPluginLogWarning(g_context, message.c_str()); }
void log_error(const std::string& message) { OrthancPluginLogError(g_context, message.c_str()); }

namespace {

std::string orthanc_configuration() {
  char* text = OrthancPluginGetConfiguration(g_context);
  if (!text) return "{}";
  std::string result(text);
  OrthancPluginFreeString(g_context, text);
  return result;
}

// Which python to embed: "PythonRuntime": {"Python": ...}, else the venv the
// plugin was built from (a wheel's plugin: the venv it is installed in, found when
// the interpreter starts; python stays empty here). Whether the plugin is configured at all (a
// "PythonRuntime" section, or the official plugin's "PythonScript" or, from its
// 4.1 on, "Python": {"Path": ...}).
void read_bootstrap(const std::string& json, std::string& python, bool& configured) {
#ifdef ORT_PYTHON_EXECUTABLE
  python = ORT_PYTHON_EXECUTABLE;
#else
  python.clear();
#endif
  configured = false;
  auto config = nlohmann::json::parse(json, nullptr, false, true);
  if (config.is_discarded() || !config.is_object()) return;
  auto section = config.find("PythonRuntime");
  if (section != config.end() && section->is_object()) {
    auto custom = section->find("Python");
    if (custom != section->end() && custom->is_string()) python = custom->get<std::string>();
    configured = true;
  }
  if (config.contains("PythonScript")) configured = true;
  auto official = config.find("Python");
  if (official != config.end() && official->is_object() && official->contains("Path")) {
    configured = true;
  }
}

}  // namespace
}  // namespace ort

extern "C" {

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext* context) {
  using namespace ort;
  set_context(context);
  // The header may be newer than the running Orthanc: what it lacks is refused call by
  // call (sdk_version.hpp), so only an Orthanc older than the oldest supported is refused here.
  if (!orthanc_at_least(kOldestMajor, kOldestMinor, kOldestRevision)) {
    log_error(std::string("orthanc-runtime needs Orthanc >= ") + std::to_string(kOldestMajor) +
              "." + std::to_string(kOldestMinor) + "." + std::to_string(kOldestRevision) +
              ", this is " + context->orthancVersion);
    return -1;
  }
  OrthancPluginSetDescription(context, "Python scripting with a managed pool of worker processes");

  std::string configuration = orthanc_configuration();
  std::string python;
  bool configured = false;
  read_bootstrap(configuration, python, configured);
  if (!configured) {
    log_warning("orthanc-runtime: no \"PythonRuntime\" section nor \"PythonScript\" in the "
                "configuration: the plugin stays idle");
    return 0;
  }

  if (!interpreter_running()) {
    std::string error;
    if (python.empty() && !python_of_own_venv(python, error)) {
      log_error("orthanc-runtime: Python not started: " + error);
      return -1;
    }
    if (!add_native_module(error) || !library_fits(python, error)) {
      log_error("orthanc-runtime: the plugin cannot start: " + error);
      return -1;
    }
    if (!start_interpreter(python, error)) {
      log_error("orthanc-runtime: " + error);
      return -1;
    }
  } else if (!python.empty() && python != interpreter_executable()) {
    log_warning("orthanc-runtime: Orthanc restarted; the interpreter keeps running " +
                interpreter_executable() + " (a new \"Python\" takes effect at the next start)");
  }
  g_started = true;

  char* path = OrthancPluginGetConfigurationPath(context);
  std::string configuration_path = path ? path : "";
  if (path) OrthancPluginFreeString(context, path);

  bool ok = false;
  {
    py::gil_scoped_acquire gil;
    set_python_alive(true);
    try {
      py::object plugin = py::module_::import("runtime.plugin");
      ok = plugin.attr("start")(configuration, configuration_path, context->orthancVersion)
               .cast<bool>();
    } catch (py::error_already_set& e) {
      log_python_error("orthanc-runtime: the plugin could not start", e);
      ok = false;
    }
  }
  return ok ? 0 : -1;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize() {
  using namespace ort;
  if (!g_started) return;
  {
    py::gil_scoped_acquire gil;
    try {
      py::module_::import("runtime.plugin").attr("stop")();
    } catch (py::error_already_set& e) {
      log_python_error("orthanc-runtime: error while stopping", e);
    }
    set_python_alive(false);
    clear_hooks();
    forget_inline_routes();
  }
  forget_route_gate();
  forget_fast_routes();
  g_started = false;
  log_info("orthanc-runtime: stopped");
}

ORTHANC_PLUGINS_API const char* OrthancPluginGetName() { return "orthanc-runtime"; }

ORTHANC_PLUGINS_API const char* OrthancPluginGetVersion() { return ORT_VERSION; }

}  // extern "C"

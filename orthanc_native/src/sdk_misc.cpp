// Logs, configuration, tokens, and the hooks to the Python dispatchers.
#include "native.hpp"
#include "sdk_version.hpp"

namespace ort {

namespace {

std::string take_string(char* text) {
  if (!text) throw SdkError(OrthancPluginErrorCode_InternalError);
  std::string result(text);
  OrthancPluginFreeString(context(), text);
  return result;
}

}  // namespace

void init_misc(py::module_& m) {
  m.def("log_info", [](const std::string& message) { log_info(message); });
  m.def("log_warning", [](const std::string& message) { log_warning(message); });
  m.def("log_error", [](const std::string& message) { log_error(message); });
  m.def("get_configuration", []() { return take_string(OrthancPluginGetConfiguration(context())); });
  m.def("get_configuration_path", []() {
    return take_string(OrthancPluginGetConfigurationPath(context()));
  });
  m.def("generate_rest_api_authorization_token", []() {
    return take_string(OrthancPluginGenerateRestApiAuthorizationToken(context()));
  });
  m.def("get_error_description", [](int code) {
    return error_description(static_cast<OrthancPluginErrorCode>(code));
  });
  m.def("orthanc_version", []() { return std::string(context()->orthancVersion); });
  // What the plugin was built against, and whether the running Orthanc has a version.
  m.def("built_sdk_version", []() { return built_sdk_version(); });
  m.def("orthanc_at_least", [](int major, int minor, int revision) {
    return orthanc_at_least(major, minor, revision);
  }, py::arg("major"), py::arg("minor"), py::arg("revision"));
  // The stack the calling Python code runs on (callback_stack.hpp), for tests and diagnostics.
  m.def("thread_stack", []() {
    ThreadStackInfo info = thread_stack_info();
    py::dict answer;
    answer["thread_stack_size"] = info.thread_stack_size;
    answer["on_callback_stack"] = info.on_callback_stack;
    answer["callback_stack_size"] = info.callback_stack_size;
    answer["callback_stacks_enabled"] = callback_stacks_enabled();
    return answer;
  });
  m.def("get_dicom_for_instance", [](const std::string& instance_id) {
    MemoryBuffer dicom;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginGetDicomForInstance(context(), dicom.get(), instance_id.c_str());
    }
    check(code);
    return dicom.to_bytes();
  });
  // Global properties are rows of Orthanc's database: durable across restarts,
  // which is what the runtime keeps its event checkpoints in. Plugins own the
  // identifiers from 1024 on.
  m.def("get_global_property", [](int32_t property, const std::string& default_value) {
    char* value;
    {
      py::gil_scoped_release release;
      value = OrthancPluginGetGlobalProperty(context(), property, default_value.c_str());
    }
    return take_string(value);
  }, py::arg("property"), py::arg("default_value") = "");
  m.def("set_global_property", [](int32_t property, const std::string& value) {
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginSetGlobalProperty(context(), property, value.c_str());
    }
    check(code);
  }, py::arg("property"), py::arg("value"));
  m.def("set_hooks", [](py::object on_rest, py::object on_change, py::object on_stored_instance,
                        py::object refresh_metrics) {
    Hooks* h = hooks();
    h->on_rest = on_rest;
    h->on_change = on_change;
    h->on_stored_instance = on_stored_instance;
    h->refresh_metrics = refresh_metrics;
  });
}

}  // namespace ort

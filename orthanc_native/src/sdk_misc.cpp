// The runtime's own calls besides the SDK's (sdk_api.cpp): the running Orthanc's version, what
// the plugin was built against, the callback stack, and the hooks to the Python dispatchers.
#include "native.hpp"
#include "sdk_version.hpp"

namespace ort {

void init_misc(py::module_& m) {
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

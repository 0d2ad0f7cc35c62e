// Events: on-change, on-stored-instance (with a DicomInstance valid only
// during its callback; its methods are generated) and the refresh of metrics.
#include "handles.hpp"

namespace ort {

namespace {

OrthancPluginErrorCode change_trampoline(OrthancPluginChangeType type,
                                         OrthancPluginResourceType level, const char* resource) {
  if (!python_alive()) return OrthancPluginErrorCode_Success;
  // A failure is logged, not returned: Orthanc has nothing to do with it.
  protect("orthanc-runtime: on-change dispatch failed", resource, OrthancPluginErrorCode_Plugin,
          [&] {
    CallbackGil gil;
    Hooks* h = hooks();
    if (h->on_change) {
      h->on_change(static_cast<int>(type), static_cast<int>(level),
                   resource ? py::object(py::str(resource)) : py::object(py::none()));
    }
    return OrthancPluginErrorCode_Success;
  });
  return OrthancPluginErrorCode_Success;
}

OrthancPluginErrorCode stored_trampoline(const OrthancPluginDicomInstance* instance,
                                         const char* instance_id) {
  if (!python_alive()) return OrthancPluginErrorCode_Success;
  return protect("orthanc-runtime: on-stored-instance dispatch failed for", instance_id,
                 OrthancPluginErrorCode_Plugin, [&] {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->on_stored_instance) return OrthancPluginErrorCode_Success;
    // Orthanc's pointer is const; the SDK calls on it only read.
    Borrowed<OrthancPluginDicomInstance> wrapped(instance, "DicomInstance");
    h->on_stored_instance(wrapped.object(), py::str(instance_id));
    return OrthancPluginErrorCode_Success;
  });
}

void metrics_trampoline() {
  if (!python_alive()) return;
  protect("orthanc-runtime: refreshing metrics failed", nullptr, OrthancPluginErrorCode_Plugin,
          [&] {
    CallbackGil gil;
    Hooks* h = hooks();
    if (h->refresh_metrics) h->refresh_metrics();
    return OrthancPluginErrorCode_Success;
  });
}

}  // namespace

void init_events(py::module_& m) {
  m.def("register_on_change", []() {
    without_gil([] { OrthancPluginRegisterOnChangeCallback(context(), change_trampoline); });
  });
  m.def("register_on_stored_instance", []() {
    without_gil([] {
      OrthancPluginRegisterOnStoredInstanceCallback(context(), stored_trampoline);
    });
  });
  m.def("register_refresh_metrics", []() {
    without_gil([] { OrthancPluginRegisterRefreshMetricsCallback(context(), metrics_trampoline); });
  });
  m.def("set_metrics_value", [](const std::string& name, float value, bool is_timer) {
    OrthancPluginSetMetricsValue(context(), name.c_str(), value,
                                 is_timer ? OrthancPluginMetricsType_Timer
                                          : OrthancPluginMetricsType_Default);
  }, py::arg("name"), py::arg("value"), py::arg("is_timer") = false);
}

}  // namespace ort

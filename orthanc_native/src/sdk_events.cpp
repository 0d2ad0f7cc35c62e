// Events: on-change, on-stored-instance (with a DicomInstance valid only
// during its callback; its methods are generated) and the refresh of metrics.
#include "handles.hpp"

namespace ort {

namespace {

OrthancPluginErrorCode change_trampoline(OrthancPluginChangeType type,
                                         OrthancPluginResourceType level, const char* resource) {
  // A failure is logged, not returned: Orthanc has nothing to do with it.
  call_hook(&Hooks::on_change, "orthanc-runtime: on-change dispatch failed", resource,
            OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    hook(static_cast<int>(type), static_cast<int>(level),
         resource ? py::object(py::str(resource)) : py::object(py::none()));
    return OrthancPluginErrorCode_Success;
  });
  return OrthancPluginErrorCode_Success;
}

OrthancPluginErrorCode stored_trampoline(const OrthancPluginDicomInstance* instance,
                                         const char* instance_id) {
  return call_hook(&Hooks::on_stored_instance,
                   "orthanc-runtime: on-stored-instance dispatch failed for", instance_id,
                   OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Success,
                   [&](const py::object& hook) {
    // Orthanc's pointer is const; the SDK calls on it only read.
    Borrowed<OrthancPluginDicomInstance> wrapped(instance, "DicomInstance");
    hook(wrapped.object(), py::str(instance_id));
    return OrthancPluginErrorCode_Success;
  });
}

void metrics_trampoline() {
  call_hook(&Hooks::refresh_metrics, "orthanc-runtime: refreshing metrics failed", nullptr,
            OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    hook();
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
}

}  // namespace ort

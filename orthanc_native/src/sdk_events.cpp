// Events: on-change, on-stored-instance (with DicomInstance, valid only
// during its callback) and the refresh of metrics.
#include "native.hpp"

#include <memory>

namespace ort {

namespace {

class DicomInstance {
 public:
  explicit DicomInstance(const OrthancPluginDicomInstance* instance) : instance_(instance) {}
  void invalidate() { instance_ = nullptr; }
  bool valid() const { return instance_ != nullptr; }

  int64_t size() const { return OrthancPluginGetInstanceSize(context(), get()); }
  py::bytes data() const {
    const void* data = OrthancPluginGetInstanceData(context(), get());
    if (!data) throw SdkError(OrthancPluginErrorCode_InternalError);
    return py::bytes(static_cast<const char*>(data),
                     static_cast<size_t>(OrthancPluginGetInstanceSize(context(), get())));
  }
  py::object metadata(const std::string& key) const {
    const char* value = OrthancPluginGetInstanceMetadata(context(), get(), key.c_str());
    if (!value) return py::none();
    return py::str(value);
  }
  bool has_metadata(const std::string& key) const {
    int result = OrthancPluginHasInstanceMetadata(context(), get(), key.c_str());
    if (result < 0) throw SdkError(OrthancPluginErrorCode_InternalError);
    return result == 1;
  }
  int origin() const { return static_cast<int>(OrthancPluginGetInstanceOrigin(context(), get())); }
  py::object remote_aet() const {
    const char* value = OrthancPluginGetInstanceRemoteAet(context(), get());
    if (!value) return py::none();
    return py::str(value);
  }
  std::string simplified_json() const { return take(OrthancPluginGetInstanceSimplifiedJson(context(), get())); }
  std::string json() const { return take(OrthancPluginGetInstanceJson(context(), get())); }
  std::string transfer_syntax_uid() const {
    return take(OrthancPluginGetInstanceTransferSyntaxUid(context(), get()));
  }
  bool has_pixel_data() const {
    int result = OrthancPluginHasInstancePixelData(context(), get());
    if (result < 0) throw SdkError(OrthancPluginErrorCode_InternalError);
    return result == 1;
  }
  uint32_t frames_count() const { return OrthancPluginGetInstanceFramesCount(context(), get()); }

 private:
  static std::string take(char* text) {
    if (!text) throw SdkError(OrthancPluginErrorCode_InternalError);
    std::string result(text);
    OrthancPluginFreeString(context(), text);
    return result;
  }
  const OrthancPluginDicomInstance* get() const {
    if (!instance_) {
      throw py::value_error("this DicomInstance belongs to a callback that has returned; "
                            "copy what you need while the callback runs");
    }
    return instance_;
  }
  const OrthancPluginDicomInstance* instance_;
};

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
    auto wrapped = std::make_shared<DicomInstance>(instance);
    // Python may keep the object: once the callback returns, the instance is gone.
    struct Invalidate {
      DicomInstance& instance;
      ~Invalidate() { instance.invalidate(); }
    } invalidate{*wrapped};
    h->on_stored_instance(py::cast(wrapped), py::str(instance_id));
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
  py::class_<DicomInstance, std::shared_ptr<DicomInstance>>(m, "DicomInstance")
      .def("size", &DicomInstance::size)
      .def("data", &DicomInstance::data)
      .def("metadata", &DicomInstance::metadata)
      .def("has_metadata", &DicomInstance::has_metadata)
      .def("origin", &DicomInstance::origin)
      .def("remote_aet", &DicomInstance::remote_aet)
      .def("simplified_json", &DicomInstance::simplified_json)
      .def("json", &DicomInstance::json)
      .def("transfer_syntax_uid", &DicomInstance::transfer_syntax_uid)
      .def("has_pixel_data", &DicomInstance::has_pixel_data)
      .def("frames_count", &DicomInstance::frames_count)
      .def_property_readonly("valid", &DicomInstance::valid);

  m.def("register_on_change", []() { OrthancPluginRegisterOnChangeCallback(context(), change_trampoline); });
  m.def("register_on_stored_instance", []() {
    OrthancPluginRegisterOnStoredInstanceCallback(context(), stored_trampoline);
  });
  m.def("register_refresh_metrics", []() {
    OrthancPluginRegisterRefreshMetricsCallback(context(), metrics_trampoline);
  });
  m.def("set_metrics_value", [](const std::string& name, float value, bool is_timer) {
    OrthancPluginSetMetricsValue(context(), name.c_str(), value,
                                 is_timer ? OrthancPluginMetricsType_Timer
                                          : OrthancPluginMetricsType_Default);
  }, py::arg("name"), py::arg("value"), py::arg("is_timer") = false);
}

}  // namespace ort

// Gates: callbacks whose answer decides whether Orthanc goes on. Each fails
// closed: when Python is not running, or the dispatcher raises, the request is
// refused (an HTTP filter that cannot be asked must not let everything in).
#include "handles.hpp"
#include "native.hpp"
#include "sdk_version.hpp"

#include <cstring>
#include <memory>

namespace ort {

namespace {

py::dict pairs(uint32_t count, const char* const* keys, const char* const* values) {
  py::dict result;
  for (uint32_t i = 0; i < count; i++) {
    result[py::str(keys[i] ? keys[i] : "")] = py::str(values[i] ? values[i] : "");
  }
  return result;
}

int32_t http_filter_trampoline(OrthancPluginHttpMethod method, const char* uri, const char* ip,
                               uint32_t headers_count, const char* const* headers_keys,
                               const char* const* headers_values, uint32_t get_count,
                               const char* const* get_keys, const char* const* get_values) {
  int32_t allowed = 0;
  call_hook(&Hooks::http_filter, "orthanc-runtime: HTTP filter failed, the request is refused",
            uri, OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    py::object answer = hook(method_name(method), py::str(uri ? uri : ""), py::str(ip ? ip : ""),
                             pairs(headers_count, headers_keys, headers_values),
                             pairs(get_count, get_keys, get_values));
    allowed = answer.cast<bool>() ? 1 : 0;
    return OrthancPluginErrorCode_Success;
  });
  return allowed;
}

// The received DICOM goes to Python as bytes; the answer is (action, bytes or
// None). A failure discards the instance: it was not accepted by its gate.
OrthancPluginReceivedInstanceAction received_trampoline(OrthancPluginMemoryBuffer64* modified,
                                                        const void* data, uint64_t size,
                                                        OrthancPluginInstanceOrigin origin) {
  auto action = OrthancPluginReceivedInstanceAction_Discard;
  call_hook(&Hooks::received_instance,
            "orthanc-runtime: the received-instance handler failed, the instance is discarded",
            nullptr, OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    py::tuple answer = hook(py::bytes(static_cast<const char*>(data), static_cast<size_t>(size)),
                            static_cast<int>(origin));
    int chosen = answer[0].cast<int>();
    if (chosen == OrthancPluginReceivedInstanceAction_Modify) {
      std::string dicom = buffer_from(answer[1]);
      check(OrthancPluginCreateMemoryBuffer64(context(), modified, dicom.size()));
      std::memcpy(modified->data, dicom.data(), dicom.size());
      action = OrthancPluginReceivedInstanceAction_Modify;
    } else if (chosen == OrthancPluginReceivedInstanceAction_KeepAsIs) {
      action = OrthancPluginReceivedInstanceAction_KeepAsIs;
    }
    return OrthancPluginErrorCode_Success;
  });
  return action;
}

// The storage area: Orthanc's files go through Python. A failure answers
// OrthancPluginErrorCode_StorageAreaPlugin: Orthanc then fails that operation
// (an upload answers an error) and goes on with the others.
OrthancPluginErrorCode storage_create(const char* uuid, const void* content, int64_t size,
                                      OrthancPluginContentType type) {
  return call_hook(&Hooks::storage_create, "orthanc-runtime: the storage area failed to write",
                   uuid, OrthancPluginErrorCode_StorageAreaPlugin, [&](const py::object& hook) {
    hook(py::str(uuid), static_cast<int>(type),
         py::bytes(static_cast<const char*>(content), static_cast<size_t>(size)));
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode storage_read(OrthancPluginMemoryBuffer64* target, const char* uuid,
                                    OrthancPluginContentType type) {
  return call_hook(&Hooks::storage_read, "orthanc-runtime: the storage area failed to read", uuid,
                   OrthancPluginErrorCode_StorageAreaPlugin, [&](const py::object& hook) {
    std::string data = buffer_from(hook(py::str(uuid), static_cast<int>(type)));
    check(OrthancPluginCreateMemoryBuffer64(context(), target, data.size()));
    if (!data.empty()) std::memcpy(target->data, data.data(), data.size());
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode storage_remove(const char* uuid, OrthancPluginContentType type) {
  return call_hook(&Hooks::storage_remove, "orthanc-runtime: the storage area failed to remove",
                   uuid, OrthancPluginErrorCode_StorageAreaPlugin, [&](const py::object& hook) {
    hook(py::str(uuid), static_cast<int>(type));
    return OrthancPluginErrorCode_Success;
  });
}

#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 8)
// The storage area with custom data (RegisterStorageArea3): the Python side
// (runtime/callbacks/gates.py storage_*3) answers (error code, custom data or bytes read).
OrthancPluginErrorCode storage_create3(OrthancPluginMemoryBuffer* custom_data, const char* uuid,
                                       const void* content, uint64_t size,
                                       OrthancPluginContentType type,
                                       OrthancPluginCompressionType compression,
                                       const OrthancPluginDicomInstance* instance) {
  return call_hook(&Hooks::storage_create, "orthanc-runtime: the storage area failed to write",
                   uuid, OrthancPluginErrorCode_StorageAreaPlugin, [&](const py::object& hook) {
    std::unique_ptr<Borrowed<OrthancPluginDicomInstance>> wrapped;
    if (instance) wrapped.reset(new Borrowed<OrthancPluginDicomInstance>(instance, "DicomInstance"));
    py::tuple answer = hook(
        py::str(uuid), static_cast<int>(type), static_cast<int>(compression),
        py::bytes(static_cast<const char*>(content), static_cast<size_t>(size)),
        wrapped ? wrapped->object() : py::object(py::none()));
    auto code = static_cast<OrthancPluginErrorCode>(answer[0].cast<int>());
    if (code != OrthancPluginErrorCode_Success || answer[1].is_none()) return code;
    std::string data = buffer_from(answer[1]);
    if (!data.empty()) {
      check(OrthancPluginCreateMemoryBuffer(context(), custom_data,
                                            static_cast<uint32_t>(data.size())));
      std::memcpy(custom_data->data, data.data(), data.size());
    }
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode storage_read3(OrthancPluginMemoryBuffer64* target, const char* uuid,
                                     OrthancPluginContentType type, uint64_t range_start,
                                     const void* custom_data, uint32_t custom_data_size) {
  return call_hook(&Hooks::storage_read, "orthanc-runtime: the storage area failed to read", uuid,
                   OrthancPluginErrorCode_StorageAreaPlugin, [&](const py::object& hook) {
    // Orthanc allocated the target with the size of the range it wants.
    py::tuple answer = hook(
        py::str(uuid), static_cast<int>(type), range_start, target->size,
        py::bytes(static_cast<const char*>(custom_data), custom_data_size));
    auto code = static_cast<OrthancPluginErrorCode>(answer[0].cast<int>());
    if (code != OrthancPluginErrorCode_Success) return code;
    std::string data = buffer_from(answer[1]);  // its size was checked in Python
    if (data.size() != target->size) return OrthancPluginErrorCode_StorageAreaPlugin;
    if (!data.empty()) std::memcpy(target->data, data.data(), data.size());
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode storage_remove3(const char* uuid, OrthancPluginContentType type,
                                       const void* custom_data, uint32_t custom_data_size) {
  return call_hook(&Hooks::storage_remove, "orthanc-runtime: the storage area failed to remove",
                   uuid, OrthancPluginErrorCode_StorageAreaPlugin, [&](const py::object& hook) {
    return static_cast<OrthancPluginErrorCode>(
        hook(py::str(uuid), static_cast<int>(type),
             py::bytes(static_cast<const char*>(custom_data), custom_data_size))
            .cast<int>());
  });
}
#endif

}  // namespace

void init_gates(py::module_& m) {
  m.def("set_storage_area", [](py::object create, py::object read, py::object remove) {
    Hooks* h = hooks();
    h->storage_create = create;
    h->storage_read = read;
    h->storage_remove = remove;
  });
  m.def("register_storage_area", []() {
    // Whole reads only: Orthanc reads a range through them when no range reader is given.
    without_gil([] {
      OrthancPluginRegisterStorageArea2(context(), storage_create, storage_read, nullptr,
                                        storage_remove);
    });
  });
  m.def("register_storage_area3", []() {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 8)
    require_orthanc("RegisterStorageArea3", 1, 12, 8);
    without_gil([] {
      OrthancPluginRegisterStorageArea3(context(), storage_create3, storage_read3, storage_remove3);
    });
#else
    needs_newer_sdk("RegisterStorageArea3", 1, 12, 8);
#endif
  });
  m.def("set_received_instance", [](py::object handler) {
    hooks()->received_instance = handler;
  });
  m.def("register_received_instance", []() {
    check(without_gil([] {
      return OrthancPluginRegisterReceivedInstanceCallback(context(), received_trampoline);
    }));
  });
  m.def("set_http_filter", [](py::object filter) { hooks()->http_filter = filter; });
  m.def("register_http_filter", []() {
    check(without_gil([] {
      return OrthancPluginRegisterIncomingHttpRequestFilter2(context(), http_filter_trampoline);
    }));
  });
}

}  // namespace ort

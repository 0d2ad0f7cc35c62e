// The SDK calls that the generator leaves to hand-written code (each listed,
// with the reason, in orthanc_native/codegen/rules.py): raw pointers whose
// size comes from another call, output structures, arrays of headers.
#include "handles.hpp"
#include "sdk_version.hpp"

#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <vector>

namespace ort {

namespace {

using ImageHandle = Handle<OrthancPluginImage>;
using InstanceHandle = Handle<OrthancPluginDicomInstance>;
using QueryHandle = Handle<OrthancPluginFindQuery>;

// Headers as the SDK wants them: two arrays of C strings, alive as long as this.
class Headers {
 public:
  explicit Headers(const py::dict& headers) {
    for (auto item : headers) {
      keys_.push_back(py::str(item.first).cast<std::string>());
      values_.push_back(py::str(item.second).cast<std::string>());
    }
    for (size_t i = 0; i < keys_.size(); i++) {
      key_pointers_.push_back(keys_[i].c_str());
      value_pointers_.push_back(values_[i].c_str());
    }
  }
  uint32_t count() const { return static_cast<uint32_t>(keys_.size()); }
  const char* const* keys() const { return key_pointers_.empty() ? nullptr : key_pointers_.data(); }
  const char* const* values() const {
    return value_pointers_.empty() ? nullptr : value_pointers_.data();
  }

 private:
  std::vector<std::string> keys_, values_;
  std::vector<const char*> key_pointers_, value_pointers_;
};

// (status, headers, body) of an HTTP answer: headers come as a JSON object.
py::tuple http_answer(uint16_t status, const MemoryBuffer& headers, const MemoryBuffer& body) {
  std::string text = headers.to_string();
  py::object parsed = py::module_::import("json").attr("loads")(text.empty() ? std::string("{}") : text);
  return py::make_tuple(static_cast<int>(status), parsed, body.to_bytes());
}

// Bulk data stays in the JSON or XML, base64-encoded: a Python caller has no
// URI to serve it from.
void inline_binary(OrthancPluginDicomWebNode* node, OrthancPluginDicomWebSetBinaryNode setter,
                   uint32_t, const uint16_t*, const uint16_t*, const uint32_t*, uint16_t, uint16_t,
                   OrthancPluginValueRepresentation, void*) {
  setter(node, OrthancPluginDicomWebBinaryMode_InlineBinary, nullptr);
}

uint16_t find_query_tag(QueryHandle& query, uint32_t index, bool group) {
  uint16_t tag_group = 0, tag_element = 0;
  check(OrthancPluginGetFindQueryTag(context(), &tag_group, &tag_element, query.get(), index));
  return group ? tag_group : tag_element;
}

// Key-value stores and queues in Orthanc's database (Orthanc 1.12.8), the stable status of
// a resource (1.12.9), reserved queue values (1.12.10), adopted instances (1.12.8): each an
// SDK call with output flags or integers, so written here. In a build against an older
// header each is still defined and raises, naming the Orthanc it needs (sdk_version.hpp).
void init_stores(py::module_& m) {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 8)
  m.def("GetKeyValue", [](const std::string& store, const std::string& key) {
    require_orthanc("GetKeyValue", 1, 12, 8);
    uint8_t found = 0;
    MemoryBuffer value;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginGetKeyValue(context(), &found, value.get(), store.c_str(), key.c_str());
    }
    check(code);
    return found ? py::object(value.to_bytes()) : py::object(py::none());
  }, py::arg("storeId"), py::arg("key"));

  m.def("DequeueValue", [](const std::string& queue, int origin) {
    require_orthanc("DequeueValue", 1, 12, 8);
    uint8_t found = 0;
    MemoryBuffer value;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the SDK prefers reservations
      code = OrthancPluginDequeueValue(context(), &found, value.get(), queue.c_str(),
                                       static_cast<OrthancPluginQueueOrigin>(origin));
#pragma GCC diagnostic pop
    }
    check(code);
    return found ? py::object(value.to_bytes()) : py::object(py::none());
  }, py::arg("queueId"), py::arg("origin"));

  m.def("GetQueueSize", [](const std::string& queue) {
    require_orthanc("GetQueueSize", 1, 12, 8);
    uint64_t size = 0;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginGetQueueSize(context(), queue.c_str(), &size);
    }
    check(code);
    return size;
  }, py::arg("queueId"));

  m.def("KeysValuesIteratorNext", [](Handle<OrthancPluginKeysValuesIterator>& iterator) {
    require_orthanc("KeysValuesIteratorNext", 1, 12, 8);
    OrthancPluginKeysValuesIterator* pointer = iterator.get();
    // Named "done" in the header, the flag is 1 while the iterator stands on a key.
    uint8_t on_a_key = 0;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginKeysValuesIteratorNext(context(), &on_a_key, pointer);
    }
    check(code);
    return on_a_key != 0;
  }, py::arg("iterator"));

  // Every key and value of a store, read in one call: runtime.sdk's kv_store() from a worker.
  m.def("key_value_items", [](const std::string& store) {
    require_orthanc("key-value stores", 1, 12, 8);
    py::list items;
    OrthancPluginKeysValuesIterator* iterator;
    {
      py::gil_scoped_release release;
      iterator = OrthancPluginCreateKeysValuesIterator(context(), store.c_str());
    }
    auto owned = own(iterator, OrthancPluginFreeKeysValuesIterator, "KeysValuesIterator",
                     "CreateKeysValuesIterator");
    for (;;) {
      uint8_t on_a_key = 0;
      MemoryBuffer value;
      const char* key = nullptr;
      OrthancPluginErrorCode code;
      {
        py::gil_scoped_release release;
        code = OrthancPluginKeysValuesIteratorNext(context(), &on_a_key, iterator);
        if (code == OrthancPluginErrorCode_Success && on_a_key) {
          key = OrthancPluginKeysValuesIteratorGetKey(context(), iterator);
          code = OrthancPluginKeysValuesIteratorGetValue(context(), value.get(), iterator);
        }
      }
      check(code);
      if (!on_a_key) break;
      if (!key) throw SdkError(OrthancPluginErrorCode_InternalError, "KeysValuesIteratorGetKey");
      items.append(py::make_tuple(py::str(key), value.to_bytes()));
    }
    return items;
  }, py::arg("storeId"));

  m.def("AdoptDicomInstance", [](const py::object& dicom, const py::object& custom_data) {
    require_orthanc("AdoptDicomInstance", 1, 12, 8);
    std::string file = buffer_arg(dicom, "AdoptDicomInstance", "dicom");
    std::string custom = buffer_arg(custom_data, "AdoptDicomInstance", "customData");
    MemoryBuffer instance_id, attachment_uuid;
    OrthancPluginStoreStatus status = OrthancPluginStoreStatus_Failure;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginAdoptDicomInstance(context(), instance_id.get(), attachment_uuid.get(), &status,
                                             file.data(), file.size(), custom.data(),
                                             static_cast<uint32_t>(custom.size()));
    }
    check(code);
    return py::make_tuple(instance_id.to_string(), attachment_uuid.to_string(), static_cast<int>(status));
  }, py::arg("dicom"), py::arg("customData"));
#else
  for (const char* name : {"GetKeyValue", "DequeueValue", "GetQueueSize", "KeysValuesIteratorNext",
                           "AdoptDicomInstance"}) {
    m.def(name, [name](const py::args&, const py::kwargs&) { needs_newer_sdk(name, 1, 12, 8); });
  }
  m.def("key_value_items", [](const py::args&, const py::kwargs&) {
    needs_newer_sdk("key-value stores", 1, 12, 8);
  });
#endif

#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 9)
  // (0, 1 if the status changed else 0), as the official plugin answers.
  m.def("SetStableStatus", [](const std::string& resource, int status) {
    require_orthanc("SetStableStatus", 1, 12, 9);
    uint8_t changed = 0;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginSetStableStatus(context(), &changed, resource.c_str(),
                                          static_cast<OrthancPluginStableStatus>(status));
    }
    check(code);
    return py::make_tuple(static_cast<int>(code), static_cast<int>(changed));
  }, py::arg("resourceId"), py::arg("stableStatus"));
#else
  m.def("SetStableStatus", [](const py::args&, const py::kwargs&) {
    needs_newer_sdk("SetStableStatus", 1, 12, 9);
  });
#endif

#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
  // (value, valueId) of a value reserved for releaseTimeout seconds, (None, None) if none is free.
  m.def("ReserveQueueValue", [](const std::string& queue, int origin, uint32_t release_timeout) -> py::tuple {
    require_orthanc("ReserveQueueValue", 1, 12, 10);
    uint8_t found = 0;
    uint64_t value_id = 0;
    MemoryBuffer value;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginReserveQueueValue(context(), &found, value.get(), &value_id, queue.c_str(),
                                            static_cast<OrthancPluginQueueOrigin>(origin),
                                            release_timeout);
    }
    check(code);
    if (!found) return py::make_tuple(py::none(), py::none());
    return py::make_tuple(value.to_bytes(), value_id);
  }, py::arg("queueId"), py::arg("origin"), py::arg("releaseTimeout"));
#else
  m.def("ReserveQueueValue", [](const py::args&, const py::kwargs&) {
    needs_newer_sdk("ReserveQueueValue", 1, 12, 10);
  });
#endif
}

}  // namespace

void init_api_extra(py::module_& m) {
  init_stores(m);

  m.def("GetImageBuffer", [](ImageHandle& image) {
    OrthancPluginImage* pointer = image.get();
    const void* pixels = OrthancPluginGetImageBuffer(context(), pointer);
    size_t size = static_cast<size_t>(OrthancPluginGetImagePitch(context(), pointer)) *
                  OrthancPluginGetImageHeight(context(), pointer);
    if (!pixels && size) throw SdkError(OrthancPluginErrorCode_InternalError, "GetImageBuffer");
    return py::bytes(static_cast<const char*>(pixels), size);
  }, py::arg("image"));

  // The Orthanc Book computes the pitch as len(buffer) / height, a float in
  // Python 3: an integral float is taken as the integer it is.
  m.def("CreateImageFromBuffer", [](int format, uint32_t width, uint32_t height,
                                    const py::object& pitch_value, const py::object& buffer) {
    if (!PyLong_Check(pitch_value.ptr()) &&
        !(PyFloat_Check(pitch_value.ptr()) && py::float_(pitch_value).attr("is_integer")().cast<bool>())) {
      throw py::type_error("CreateImageFromBuffer(): pitch must be an integer");
    }
    uint32_t pitch = py::int_(pitch_value).cast<uint32_t>();
    std::string pixels = buffer_arg(buffer, "CreateImageFromBuffer", "buffer");
    size_t needed = static_cast<size_t>(pitch) * height;
    if (pixels.size() < needed) {
      throw SdkError(OrthancPluginErrorCode_BadParameterType,
                     "CreateImageFromBuffer: the buffer holds " + std::to_string(pixels.size()) +
                         " bytes, pitch * height is " + std::to_string(needed));
    }
    // An accessor does not own its pixels: copy them into an image that owns its own.
    auto format_value = static_cast<OrthancPluginPixelFormat>(format);
    OrthancPluginImage* image = OrthancPluginCreateImage(context(), format_value, width, height);
    auto result = own(image, OrthancPluginFreeImage, "Image", "CreateImageFromBuffer");
    uint32_t target_pitch = OrthancPluginGetImagePitch(context(), image);
    char* target = static_cast<char*>(OrthancPluginGetImageBuffer(context(), image));
    uint32_t row = std::min(pitch, target_pitch);
    for (uint32_t y = 0; y < height; y++) {
      std::memcpy(target + static_cast<size_t>(y) * target_pitch,
                  pixels.data() + static_cast<size_t>(y) * pitch, row);
    }
    return result;
  }, py::arg("format"), py::arg("width"), py::arg("height"), py::arg("pitch"), py::arg("buffer"));

  m.def("GetInstanceData", [](InstanceHandle& instance) {
    OrthancPluginDicomInstance* pointer = instance.get();
    const void* data = OrthancPluginGetInstanceData(context(), pointer);
    int64_t size = OrthancPluginGetInstanceSize(context(), pointer);
    if (!data || size < 0) throw SdkError(OrthancPluginErrorCode_InternalError, "GetInstanceData");
    return py::bytes(static_cast<const char*>(data), static_cast<size_t>(size));
  }, py::arg("instance"));

  m.def("GetInstanceMetadata", [](InstanceHandle& instance, const std::string& metadata) {
    const char* value = OrthancPluginGetInstanceMetadata(context(), instance.get(), metadata.c_str());
    return value ? py::object(py::str(value)) : py::object(py::none());
  }, py::arg("instance"), py::arg("metadata"));

  m.def("HasInstanceMetadata", [](InstanceHandle& instance, const std::string& metadata) {
    int result = OrthancPluginHasInstanceMetadata(context(), instance.get(), metadata.c_str());
    if (result < 0) throw SdkError(OrthancPluginErrorCode_InternalError, "HasInstanceMetadata");
    return result == 1;
  }, py::arg("instance"), py::arg("metadata"));

  m.def("HasInstancePixelData", [](InstanceHandle& instance) {
    int32_t result = OrthancPluginHasInstancePixelData(context(), instance.get());
    if (result < 0) throw SdkError(OrthancPluginErrorCode_InternalError, "HasInstancePixelData");
    return result == 1;
  }, py::arg("instance"));

  m.def("GetFindQueryTagGroup", [](QueryHandle& query, uint32_t index) {
    return find_query_tag(query, index, true);
  }, py::arg("query"), py::arg("index"));
  m.def("GetFindQueryTagElement", [](QueryHandle& query, uint32_t index) {
    return find_query_tag(query, index, false);
  }, py::arg("query"), py::arg("index"));

  m.def("LookupDictionary", [](const std::string& name) {
    OrthancPluginDictionaryEntry entry;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginLookupDictionary(context(), &entry, name.c_str());
    }
    check(code);
    py::dict result;
    result["Group"] = entry.group;
    result["Element"] = entry.element;
    result["ValueRepresentation"] = static_cast<int>(entry.vr);
    result["MinMultiplicity"] = entry.minMultiplicity;
    result["MaxMultiplicity"] = entry.maxMultiplicity;
    return result;
  }, py::arg("name"));

  m.def("RestApiGet2", [](const std::string& uri, const py::dict& headers, bool after_plugins) {
    Headers h(headers);
    MemoryBuffer answer;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginRestApiGet2(context(), answer.get(), uri.c_str(), h.count(), h.keys(),
                                      h.values(), after_plugins ? 1 : 0);
    }
    check(code);
    return answer.to_bytes();
  }, py::arg("uri"), py::arg("headers"), py::arg("afterPlugins"));

  m.def("CallRestApi", [](int method, const std::string& uri, const py::dict& headers,
                          const py::object& body, bool after_plugins) {
    Headers h(headers);
    std::string data = buffer_from(body);
    MemoryBuffer answer, answer_headers;
    uint16_t status = 0;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginCallRestApi(context(), answer.get(), answer_headers.get(), &status,
                                      static_cast<OrthancPluginHttpMethod>(method), uri.c_str(),
                                      h.count(), h.keys(), h.values(), data.data(),
                                      static_cast<uint32_t>(data.size()), after_plugins ? 1 : 0);
    }
    if (code != OrthancPluginErrorCode_Success && status == 0) check(code);
    return http_answer(status, answer_headers, answer);
  }, py::arg("method"), py::arg("uri"), py::arg("headers"), py::arg("body"),
     py::arg("afterPlugins"));

  m.def("HttpClient", [](int method, const std::string& url, const py::dict& headers,
                         const py::object& body, const std::optional<std::string>& username,
                         const std::optional<std::string>& password, uint32_t timeout) {
    Headers h(headers);
    std::string data = buffer_arg(body, "HttpClient", "body");
    MemoryBuffer answer, answer_headers;
    uint16_t status = 0;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginHttpClient(
          context(), answer.get(), answer_headers.get(), &status,
          static_cast<OrthancPluginHttpMethod>(method), url.c_str(), h.count(), h.keys(), h.values(),
          data.data(), static_cast<uint32_t>(data.size()), username ? username->c_str() : nullptr,
          password ? password->c_str() : nullptr, timeout, nullptr, nullptr, nullptr, 0);
    }
    if (code != OrthancPluginErrorCode_Success && status == 0) check(code);
    return http_answer(status, answer_headers, answer);
  }, py::arg("method"), py::arg("url"), py::arg("headers"), py::arg("body"), py::arg("username"),
     py::arg("password"), py::arg("timeout"));

  m.def("CallPeerApi", [](Handle<OrthancPluginPeers>& peers, uint32_t index, int method,
                          const std::string& uri, const py::dict& headers, const py::object& body,
                          uint32_t timeout) {
    OrthancPluginPeers* pointer = peers.get();
    Headers h(headers);
    std::string data = buffer_arg(body, "CallPeerApi", "body");
    MemoryBuffer answer, answer_headers;
    uint16_t status = 0;
    OrthancPluginErrorCode code;
    {
      py::gil_scoped_release release;
      code = OrthancPluginCallPeerApi(
          context(), answer.get(), answer_headers.get(), &status, pointer, index,
          static_cast<OrthancPluginHttpMethod>(method), uri.c_str(), h.count(), h.keys(), h.values(),
          data.data(), static_cast<uint32_t>(data.size()), timeout);
    }
    if (code != OrthancPluginErrorCode_Success && status == 0) check(code);
    return http_answer(status, answer_headers, answer);
  }, py::arg("peers"), py::arg("peerIndex"), py::arg("method"), py::arg("uri"), py::arg("headers"),
     py::arg("body"), py::arg("timeout"));

  for (bool xml : {false, true}) {
    m.def(xml ? "EncodeDicomWebXml" : "EncodeDicomWebJson", [xml](const py::object& dicom) {
      std::string data = buffer_arg(dicom, xml ? "EncodeDicomWebXml" : "EncodeDicomWebJson", "dicom");
      char* result;
      {
        py::gil_scoped_release release;
        auto size = static_cast<uint32_t>(data.size());
        result = xml ? OrthancPluginEncodeDicomWebXml2(context(), data.data(), size, inline_binary, nullptr)
                     : OrthancPluginEncodeDicomWebJson2(context(), data.data(), size, inline_binary, nullptr);
      }
      return take_string(result, xml ? "EncodeDicomWebXml" : "EncodeDicomWebJson");
    }, py::arg("dicom"));
    m.def(xml ? "GetInstanceDicomWebXml" : "GetInstanceDicomWebJson", [xml](InstanceHandle& instance) {
      OrthancPluginDicomInstance* pointer = instance.get();
      char* result;
      {
        py::gil_scoped_release release;
        result = xml ? OrthancPluginGetInstanceDicomWebXml(context(), pointer, inline_binary, nullptr)
                     : OrthancPluginGetInstanceDicomWebJson(context(), pointer, inline_binary, nullptr);
      }
      return take_string(result, xml ? "GetInstanceDicomWebXml" : "GetInstanceDicomWebJson");
    }, py::arg("instance"));
  }
}

}  // namespace ort

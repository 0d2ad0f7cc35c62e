// Gates: callbacks whose answer decides whether Orthanc goes on. Each fails
// closed: when Python is not running, or the dispatcher raises, the request is
// refused (an HTTP filter that cannot be asked must not let everything in).
#include "native.hpp"

namespace ort {

namespace {

const char* method_name(OrthancPluginHttpMethod method) {
  switch (method) {
    case OrthancPluginHttpMethod_Get: return "GET";
    case OrthancPluginHttpMethod_Post: return "POST";
    case OrthancPluginHttpMethod_Put: return "PUT";
    case OrthancPluginHttpMethod_Delete: return "DELETE";
    default: return "UNKNOWN";
  }
}

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
  if (!python_alive()) return 0;
  int32_t allowed = 0;
  protect("orthanc-runtime: HTTP filter failed, the request is refused", uri,
          OrthancPluginErrorCode_Plugin, [&]() {
            CallbackGil gil;
            Hooks* h = hooks();
            if (!h->http_filter) return OrthancPluginErrorCode_Plugin;
            py::object answer = h->http_filter(
                method_name(method), py::str(uri ? uri : ""), py::str(ip ? ip : ""),
                pairs(headers_count, headers_keys, headers_values),
                pairs(get_count, get_keys, get_values));
            allowed = answer.cast<bool>() ? 1 : 0;
            return OrthancPluginErrorCode_Success;
          });
  return allowed;
}

}  // namespace

void init_gates(py::module_& m) {
  m.def("set_http_filter", [](py::object filter) { hooks()->http_filter = filter; });
  m.def("register_http_filter", []() {
    check(OrthancPluginRegisterIncomingHttpRequestFilter2(context(), http_filter_trampoline));
  });
}

}  // namespace ort

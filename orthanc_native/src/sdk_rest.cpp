// REST: the route trampoline, RestOutput (valid only during its callback),
// and calls to Orthanc's own REST API.
#include "handles.hpp"
#include "sdk_version.hpp"

#include <boost/regex.hpp>

#include <cstring>
#include <memory>
#include <vector>

namespace ort {

const char* method_name(OrthancPluginHttpMethod method) {
  switch (method) {
    case OrthancPluginHttpMethod_Get: return "GET";
    case OrthancPluginHttpMethod_Post: return "POST";
    case OrthancPluginHttpMethod_Put: return "PUT";
    case OrthancPluginHttpMethod_Delete: return "DELETE";
    default: return "UNKNOWN";
  }
}

namespace {

// The answer channel of one REST request. Orthanc's pointer is valid only
// while the callback runs; afterwards every method raises.
class RestOutput : public Handle<OrthancPluginRestOutput> {
 public:
  static constexpr size_t kLargeAnswer = 64 * 1024;

  explicit RestOutput(OrthancPluginRestOutput* output)
      : Handle<OrthancPluginRestOutput>(output, nullptr, "RestOutput") {}

  void answer_buffer(const py::object& data, const std::string& mime) {
    std::string body = buffer_from(data);
    auto out = get();
    // Orthanc copies the answer, and may compress it: worth releasing the GIL
    // for a large body, not for a small one (the GIL would be taken twice).
    if (body.size() >= kLargeAnswer) {
      py::gil_scoped_release release;
      OrthancPluginAnswerBuffer(context(), out, body.data(), static_cast<uint32_t>(body.size()),
                                mime.c_str());
    } else {
      OrthancPluginAnswerBuffer(context(), out, body.data(), static_cast<uint32_t>(body.size()),
                                mime.c_str());
    }
  }
  void send_method_not_allowed(const std::string& allowed) {
    OrthancPluginSendMethodNotAllowed(context(), get(), allowed.c_str());
  }
  void send_http_status_code(int status) {
    OrthancPluginSendHttpStatusCode(context(), get(), static_cast<uint16_t>(status));
  }
  void send_http_status(int status, const py::object& data) {
    std::string body = buffer_from(data);
    OrthancPluginSendHttpStatus(context(), get(), static_cast<uint16_t>(status), body.data(),
                                static_cast<uint32_t>(body.size()));
  }
  void redirect(const std::string& location) {
    OrthancPluginRedirect(context(), get(), location.c_str());
  }
  void set_http_header(const std::string& key, const std::string& value) {
    OrthancPluginSetHttpHeader(context(), get(), key.c_str(), value.c_str());
  }
  void set_cookie(const std::string& key, const std::string& value) {
    OrthancPluginSetCookie(context(), get(), key.c_str(), value.c_str());
  }
  void send_unauthorized(const std::string& realm) {
    OrthancPluginSendUnauthorized(context(), get(), realm.c_str());
  }

  // A streamed answer (Orthanc 1.12.6): the headers and the MIME type go out
  // first, then each chunk as it is sent. Sending waits for the client: without the GIL.
  void start_stream_answer(const std::string& mime) {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 6)
    require_orthanc("RestOutput.StartStreamAnswer", 1, 12, 6);
    auto out = get();
    check(without_gil([&] { return OrthancPluginStartStreamAnswer(context(), out, mime.c_str()); }));
#else
    (void)mime;
    needs_newer_sdk("RestOutput.StartStreamAnswer", 1, 12, 6);
#endif
  }
  void send_stream_chunk(const py::object& data) {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 6)
    require_orthanc("RestOutput.SendStreamChunk", 1, 12, 6);
    std::string chunk = buffer_from(data);
    auto out = get();
    check(without_gil([&] {
      return OrthancPluginSendStreamChunk(context(), out, chunk.data(),
                                          static_cast<uint32_t>(chunk.size()));
    }));
#else
    (void)data;
    needs_newer_sdk("RestOutput.SendStreamChunk", 1, 12, 6);
#endif
  }
};

// Whether a route can stream its answer here: the header the plugin was built
// against and the running Orthanc both have streamed answers (1.12.6).
bool streaming_available() {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 6)
  return orthanc_at_least(1, 12, 6);
#else
  return false;
#endif
}

// Text from the client, which need not be UTF-8 (a header may hold any
// byte): invalid sequences become U+FFFD, so that the request still reaches
// its handler instead of failing before it.
py::str client_text(const char* text) {
  if (!text) return py::str("");
  PyObject* decoded = PyUnicode_DecodeUTF8(text, static_cast<Py_ssize_t>(std::strlen(text)),
                                           "replace");
  if (!decoded) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

py::dict request_dict(const OrthancPluginHttpRequest* request) {
  py::dict result;
  result["method"] = method_name(request->method);
  py::tuple groups(request->groupsCount);
  for (uint32_t i = 0; i < request->groupsCount; i++) {
    groups[i] = client_text(request->groups[i]);
  }
  result["groups"] = groups;
  py::dict headers;
  for (uint32_t i = 0; i < request->headersCount; i++) {
    headers[client_text(request->headersKeys[i])] = client_text(request->headersValues[i]);
  }
  result["headers"] = headers;
  if (request->method == OrthancPluginHttpMethod_Get) {
    py::dict get;
    for (uint32_t i = 0; i < request->getCount; i++) {
      get[client_text(request->getKeys[i])] = client_text(request->getValues[i]);
    }
    result["get"] = get;
  }
  if (carries_body(request)) {
    result["body"] = py::bytes(static_cast<const char*>(request->body), request->bodySize);
  }
  return result;
}

}  // namespace

OrthancPluginErrorCode rest_trampoline(OrthancPluginRestOutput* output, const char* url,
                                       const OrthancPluginHttpRequest* request) {
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  RouteRunning running;
  return call_hook(&Hooks::on_rest, "orthanc-runtime: REST dispatch failed for", url,
                   OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    auto answer = std::make_shared<RestOutput>(output);
    // Python may keep the object: once the callback returns, Orthanc's output is gone.
    struct Invalidate {
      RestOutput& output;
      ~Invalidate() { output.invalidate(); }
    } invalidate{*answer};
    hook(py::cast(answer), client_text(url), request_dict(request));
    return OrthancPluginErrorCode_Success;
  });
}

py::object make_rest_output(OrthancPluginRestOutput* output) {
  return py::cast(std::make_shared<RestOutput>(output));
}

void invalidate_rest_output(const py::object& output) {
  output.cast<RestOutput&>().invalidate();
}

py::str request_text(const char* text) { return client_text(text); }

namespace {

std::string boost_check(const std::string& pattern) {
  try {
    boost::regex compiled(pattern);
    (void)compiled;
    return std::string();
  } catch (const std::exception& e) {
    return e.what();
  }
}

void register_rest_route(const std::string& regex) {
  std::string problem = boost_check(regex);
  if (!problem.empty()) {
    throw py::value_error("Orthanc's regex engine refuses the route pattern " + regex + ": " +
                          problem);
  }
  register_route(regex, rest_trampoline);  // without the GIL (route_gate.cpp)
}

}  // namespace

void init_rest(py::module_& m) {
  py::class_<RestOutput, Handle<OrthancPluginRestOutput>, std::shared_ptr<RestOutput>>(m, "RestOutput")
      .def("answer_buffer", &RestOutput::answer_buffer, py::arg("data"), py::arg("mime_type"))
      .def("send_method_not_allowed", &RestOutput::send_method_not_allowed)
      .def("send_http_status_code", &RestOutput::send_http_status_code)
      .def("send_http_status", &RestOutput::send_http_status)
      .def("redirect", &RestOutput::redirect)
      .def("set_http_header", &RestOutput::set_http_header)
      .def("set_cookie", &RestOutput::set_cookie)
      .def("send_unauthorized", &RestOutput::send_unauthorized)
      .def("start_stream_answer", &RestOutput::start_stream_answer, py::arg("mime_type"))
      .def("send_stream_chunk", &RestOutput::send_stream_chunk, py::arg("data"));

  m.def("streaming_available", &streaming_available);
  m.def("register_rest_route", &register_rest_route, py::arg("regex"));
  m.def("check_regex", [](const std::string& pattern) -> py::object {
    std::string problem = boost_check(pattern);
    if (problem.empty()) return py::none();
    return py::str(problem);
  });
}

}  // namespace ort

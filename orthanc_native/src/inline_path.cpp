// The inline path: a route whose handlers all run in the master, one Python call a request.
//
//   Orthanc HTTP thread (slot callback N)
//   -------------------------------------
//   slot N has no serve (a handler of the route is offloaded or official-style, or a reload
//   has not bound it yet)                          -> rest_trampoline (on_rest matches in Python)
//   with the GIL: serve_N(url, method, headers, get, body)   (runtime.callbacks.rest.RestApi.serve_of)
//     -> (body, content_type, request_id): a plain 200
//                                                -> copied; the GIL released; X-Request-Id,
//                                                   AnswerBuffer
//     -> a callable: anything else (an error, a status, headers, a stream)
//                                                -> called with a RestOutput, as on_rest writes
//
// Orthanc's REST callback gets no user pointer, and already knows which route matched:
// a fixed table of kSlots callbacks, one per registered route regex, each knowing its slot
// (as fast_path.cpp), so Python neither matches the URL again nor builds a dict of the
// request. The answer is sent without the GIL: Orthanc writes it to the socket at once.
//
// The table is read and written with the GIL held (a serve is a Python object), so the
// GIL is its lock; Orthanc's registration itself is made without it (route_gate.cpp).
#include "native.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <utility>

namespace ort {

namespace {

constexpr std::size_t kSlots = 256;

struct Slot {
  std::string regex;
  py::object serve;  // None: through rest_trampoline
};

// On the heap, never static py::objects: released with the GIL (forget_inline_routes).
std::array<Slot, kSlots>* slots = new std::array<Slot, kSlots>();
std::size_t slots_used = 0;
// Whether slot N has a serve, read without the GIL: a route served by on_rest does not take
// the GIL twice.
std::array<std::atomic<bool>, kSlots> served{};

void set_serve(std::size_t index, py::object serve) {
  served[index].store(serve && !serve.is_none(), std::memory_order_release);
  (*slots)[index].serve = std::move(serve);
}

py::tuple header_pairs(const OrthancPluginHttpRequest* request) {
  py::tuple pairs(request->headersCount);
  for (uint32_t i = 0; i < request->headersCount; i++) {
    pairs[i] = py::make_tuple(request_text(request->headersKeys[i]),
                              request_text(request->headersValues[i]));
  }
  return pairs;
}

py::object get_arguments(const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get || request->getCount == 0) return py::none();
  py::dict get;
  for (uint32_t i = 0; i < request->getCount; i++) {
    get[request_text(request->getKeys[i])] = request_text(request->getValues[i]);
  }
  return std::move(get);
}

py::bytes request_body(const OrthancPluginHttpRequest* request) {
  if (!carries_body(request) || request->bodySize == 0) return py::bytes();
  return py::bytes(static_cast<const char*>(request->body), request->bodySize);
}

// What serve answered for C++ to send: a plain 200.
struct Plain {
  bool found = false;
  std::string body;
  std::string content_type;
  std::string request_id;
};

OrthancPluginErrorCode inline_route(std::size_t index, OrthancPluginRestOutput* output,
                                    const char* url, const OrthancPluginHttpRequest* request) {
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  if (!served[index].load(std::memory_order_acquire)) return rest_trampoline(output, url, request);
  RouteRunning running;
  bool through_python = false;
  Plain plain;
  OrthancPluginErrorCode code = call_python(
      "orthanc-runtime: REST dispatch failed for", url, OrthancPluginErrorCode_Plugin,
      OrthancPluginErrorCode_Plugin, [&]() {
        py::object serve = (*slots)[index].serve;
        if (!serve || serve.is_none()) {
          through_python = true;
          return OrthancPluginErrorCode_Success;
        }
        py::object answer = serve(request_text(url),
                                  py::str(method_name(request->method)),
                                  header_pairs(request), get_arguments(request),
                                  request_body(request));
        if (PyTuple_Check(answer.ptr())) {
          auto pair = py::reinterpret_borrow<py::tuple>(answer);
          plain.body = buffer_from(pair[0]);
          plain.content_type = pair[1].cast<std::string>();
          plain.request_id = pair[2].cast<std::string>();
          plain.found = true;
          return OrthancPluginErrorCode_Success;
        }
        // Anything but a plain 200: the callable writes it, as on_rest would.
        py::object rest_output = make_rest_output(output);
        struct Invalidate {
          const py::object& output;
          ~Invalidate() { invalidate_rest_output(output); }
        } invalidate{rest_output};
        answer(rest_output);
        return OrthancPluginErrorCode_Success;
      });
  if (through_python) return rest_trampoline(output, url, request);
  if (plain.found) {
    OrthancPluginSetHttpHeader(context(), output, "X-Request-Id", plain.request_id.c_str());
    OrthancPluginAnswerBuffer(context(), output, plain.body.data(),
                              static_cast<uint32_t>(plain.body.size()),
                              plain.content_type.c_str());
  }
  return code;
}

const std::array<OrthancPluginRestCallback, kSlots> callbacks =
    slot_callbacks<&inline_route>(std::make_index_sequence<kSlots>{});

std::size_t slot_of(const std::string& regex) {
  for (std::size_t i = 0; i < slots_used; i++) {
    if ((*slots)[i].regex == regex) return i;
  }
  return kSlots;
}

// With the GIL. Registers `regex` on a slot of its own (or updates the slot that has it)
// with `serve` (None: every request through rest_trampoline); false when every slot is
// taken (the route then goes through register_rest_route).
bool register_inline_route(const std::string& regex, py::object serve) {
  std::size_t index = slot_of(regex);
  if (index != kSlots) {
    set_serve(index, std::move(serve));
    return true;
  }
  if (slots_used == kSlots) return false;
  index = slots_used++;
  (*slots)[index].regex = regex;
  set_serve(index, std::move(serve));
  register_route(regex, callbacks[index]);  // without the GIL (route_gate.cpp)
  return true;
}

// With the GIL. A new serve for a regex registered on a slot; false if it has none.
bool set_inline_serve(const std::string& regex, py::object serve) {
  std::size_t index = slot_of(regex);
  if (index == kSlots) return false;
  set_serve(index, std::move(serve));
  return true;
}

}  // namespace

void forget_inline_routes() {
  // With the GIL, at the plugin's stop: Orthanc forgets its route callbacks when it restarts
  // in its process (/tools/reset), and the next start registers them anew.
  for (std::size_t i = 0; i < slots_used; i++) {
    served[i].store(false);
    (*slots)[i] = Slot{};
  }
  slots_used = 0;
}

void init_inline_path(py::module_& m) {
  m.def("register_inline_route", &register_inline_route, py::arg("regex"),
        py::arg("serve").none(true),
        "Registers a route whose requests call serve(url, method, headers, get, body) "
        "(None: on_rest); False when no slot is left (then register_rest_route).");
  m.def("set_inline_serve", &set_inline_serve, py::arg("regex"), py::arg("serve").none(true),
        "A new serve for a route registered by register_inline_route (a reload); False if "
        "the route has no inline slot.");
}

}  // namespace ort

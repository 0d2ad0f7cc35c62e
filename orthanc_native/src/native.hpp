// Declarations shared by the plugin's translation units.
//
// The plugin is a thin layer: Orthanc calls a C trampoline, the trampoline
// takes the GIL, converts its arguments and calls one Python dispatcher of the
// `runtime` package. Python calls into Orthanc through the embedded module
// `_orthanc_native`, whose functions release the GIL around every SDK call
// that can block. One file per SDK area, each with an init_<area>() function.
#pragma once

#include <orthanc/OrthancCPlugin.h>
#include <pybind11/pybind11.h>

#include "callback_stack.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <string>
#include <utility>

namespace py = pybind11;

namespace ort {

OrthancPluginContext* context();
void set_context(OrthancPluginContext* context);

// False before the interpreter is ready and once its finalisation began:
// callbacks that arrive then answer an error without touching Python.
bool python_alive();
void set_python_alive(bool alive);

// The Python dispatchers the trampolines call. Held on the heap, never in
// static py::object storage, and cleared (with the GIL) before finalisation.
struct Hooks {
  py::object on_rest;
  py::object on_change;
  py::object on_stored_instance;
  py::object refresh_metrics;
  py::object http_filter;  // set by set_http_filter (sdk_gates.cpp)
  py::object received_instance;  // set by set_received_instance (sdk_gates.cpp)
  py::object storage_create;  // set by set_storage_area (sdk_gates.cpp)
  py::object storage_read;
  py::object storage_remove;
  py::object unserialize_job;  // sdk_jobs.cpp: a saved job back to a Python object
  // sdk_scp.cpp: the DICOM services (runtime/callbacks/dicom.py)
  py::object find;
  py::object worklist;
  py::object move_create;
  py::object move_size;
  py::object move_apply;
  py::object move_free;
  py::object commitment_create;
  py::object commitment_lookup;
  py::object cstore_filter;
};
Hooks* hooks();
void clear_hooks();

// An Orthanc SDK call failed: the translator turns it into
// runtime.errors.OrthancException(code, description).
class SdkError : public std::exception {
 public:
  explicit SdkError(OrthancPluginErrorCode code);
  // With what failed, for a call whose failure Orthanc reports as a null result.
  SdkError(OrthancPluginErrorCode code, const std::string& detail);
  // With a message of its own, used as it is (sdk_version.cpp).
  struct Exact {};
  SdkError(OrthancPluginErrorCode code, const std::string& message, Exact)
      : code_(code), message_(message) {}
  OrthancPluginErrorCode code() const { return code_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  OrthancPluginErrorCode code_;
  std::string message_;
};

inline void check(OrthancPluginErrorCode code) {
  if (code != OrthancPluginErrorCode_Success) throw SdkError(code);
}

std::string error_description(OrthancPluginErrorCode code);

// Logging that is safe without the GIL.
void log_info(const std::string& message);
void log_warning(const std::string& message);
void log_error(const std::string& message);

// Logs the current Python exception with its traceback and clears it.
void log_python_error(const std::string& where, py::error_already_set& error);

// What protect() logs; never throw (a failure to log is swallowed), and take
// the GIL themselves where they need it.
void report_python_error(const char* where, const char* detail,
                         py::error_already_set& error) noexcept;
void report_error(const char* where, const char* detail, const char* what) noexcept;

// The one exception barrier of the trampolines: no exception may unwind into
// Orthanc's C code. Runs fn() (which returns an error code); on any exception,
// Python's, C++'s (bad_alloc, cast_error...) or an unknown one, logs `where`
// and `detail` (a URL, an id; may be null) and returns `on_error`. fn takes the
// GIL itself, so that an exception thrown while taking it is caught too. It runs
// on the thread's callback stack when the thread's own is too small for Python.
template <typename Fn>
OrthancPluginErrorCode protect(const char* where, const char* detail,
                               OrthancPluginErrorCode on_error, Fn&& fn) noexcept {
  OrthancPluginErrorCode result = on_error;
  // On a stack with room for Python (callback_stack.hpp), exception handling included.
  on_callback_stack([&]() noexcept {
    try {
      result = fn();
    } catch (py::error_already_set& e) {
      report_python_error(where, detail, e);
    } catch (const std::exception& e) {
      report_error(where, detail, e.what());
    } catch (...) {
      report_error(where, detail, "an unknown C++ exception");
    }
  });
  return result;
}

// Runs fn() (an SDK call) without the GIL and returns what it returns. Every
// registration of a callback goes through it: Orthanc registers under a lock
// that its own threads may hold while they wait for the GIL in one of our
// callbacks (a route registered by a reload under load deadlocked Orthanc).
template <typename Fn>
auto without_gil(Fn&& fn) -> decltype(fn()) {
  py::gil_scoped_release release;
  return fn();
}

// Registers a route with Orthanc, without the GIL; once Orthanc runs, through
// the route gate if it is installed (route_gate.cpp). RouteRunning counts,
// for the gate, the requests running in our routes.
void register_route(const std::string& regex, OrthancPluginRestCallback callback);
void forget_route_gate();
// The fast routes of a start, at the plugin's stop (fast_path.cpp).
void forget_fast_routes();
// The inline routes of a start, at the plugin's stop, with the GIL (inline_path.cpp).
void forget_inline_routes();
struct RouteRunning {
  RouteRunning();
  ~RouteRunning();
  RouteRunning(const RouteRunning&) = delete;
  RouteRunning& operator=(const RouteRunning&) = delete;
};

// The route trampoline through Python (sdk_rest.cpp), and what the fast path
// (fast_path.cpp) borrows from it: a RestOutput for Python, made and invalidated
// with the GIL, and a client's text as Python sees it.
OrthancPluginErrorCode rest_trampoline(OrthancPluginRestOutput* output, const char* url,
                                       const OrthancPluginHttpRequest* request);

// Orthanc's REST callbacks carry no user pointer: a route kept in slot N of a table of our
// own gets the callback slot_callback<Route, N>, which calls Route(N, ...). slot_callbacks
// makes the whole table, one callback a slot (fast_path.cpp, inline_path.cpp).
using SlotRoute = OrthancPluginErrorCode (*)(std::size_t slot, OrthancPluginRestOutput* output,
                                             const char* url,
                                             const OrthancPluginHttpRequest* request);

template <SlotRoute Route, std::size_t N>
OrthancPluginErrorCode slot_callback(OrthancPluginRestOutput* output, const char* url,
                                     const OrthancPluginHttpRequest* request) {
  return Route(N, output, url, request);
}

template <SlotRoute Route, std::size_t... I>
constexpr std::array<OrthancPluginRestCallback, sizeof...(I)> slot_callbacks(
    std::index_sequence<I...>) {
  return {{&slot_callback<Route, I>...}};
}
py::object make_rest_output(OrthancPluginRestOutput* output);
void invalidate_rest_output(const py::object& output);
py::str request_text(const char* text);

// "GET", "POST", "PUT", "DELETE" (sdk_rest.cpp).
const char* method_name(OrthancPluginHttpMethod method);

// Whether a request's body means anything: Orthanc hands one for POST and PUT only.
inline bool carries_body(const OrthancPluginHttpRequest* request) {
  return request->method == OrthancPluginHttpMethod_Post ||
         request->method == OrthancPluginHttpMethod_Put;
}

// Copies a Python str (as UTF-8) or bytes-like object into a std::string.
std::string buffer_from(const py::handle& value);

// An Orthanc memory buffer freed on every path.
class MemoryBuffer {
 public:
  MemoryBuffer() { buffer_.data = nullptr; buffer_.size = 0; }
  ~MemoryBuffer() { if (buffer_.data) OrthancPluginFreeMemoryBuffer(context(), &buffer_); }
  MemoryBuffer(const MemoryBuffer&) = delete;
  MemoryBuffer& operator=(const MemoryBuffer&) = delete;
  OrthancPluginMemoryBuffer* get() { return &buffer_; }
  py::bytes to_bytes() const {
    return py::bytes(static_cast<const char*>(buffer_.data), buffer_.size);
  }
  std::string to_string() const {
    return std::string(static_cast<const char*>(buffer_.data), buffer_.size);
  }

 private:
  OrthancPluginMemoryBuffer buffer_;
};

// With the GIL: tells Python which stack this thread's Python code runs on now,
// when that changed since it was last told (interpreter.cpp). Python 3.14 checks
// recursion against that stack; earlier Pythons need not be told.
void python_follows_callback_stack();

// Takes the GIL in a callback on one of Orthanc's threads, and keeps that
// thread's Python state for its next callback: pybind11 would otherwise create
// and destroy one per callback, which costs more than a small callback itself.
// Python then checks recursion against the stack the callback runs on.
class CallbackGil {
 public:
  CallbackGil() {
    thread_local bool kept = false;
    if (!kept) {
      acquire_.inc_ref();
      kept = true;
    }
    python_follows_callback_stack();
  }

 private:
  py::gil_scoped_acquire acquire_;
};

// The prelude every trampoline shares: nothing once Python is finalising (it returns
// `absent`), the exception barrier (`failed` on any exception, logged with `where` and
// `detail`), the GIL. fn() returns the callback's error code.
template <typename Fn>
OrthancPluginErrorCode call_python(const char* where, const char* detail,
                                   OrthancPluginErrorCode failed, OrthancPluginErrorCode absent,
                                   Fn&& fn) noexcept {
  if (!python_alive()) return absent;
  return protect(where, detail, failed, [&]() {
    CallbackGil gil;
    return fn();
  });
}

// The same, for a trampoline that calls one of the runtime's dispatchers: `absent` too
// when the runtime set none. fn(hook) calls it.
template <typename Fn>
OrthancPluginErrorCode call_hook(py::object Hooks::*hook, const char* where, const char* detail,
                                 OrthancPluginErrorCode failed, OrthancPluginErrorCode absent,
                                 Fn&& fn) noexcept {
  return call_python(where, detail, failed, absent, [&]() {
    const py::object& found = hooks()->*hook;
    if (!found) return absent;
    return fn(found);
  });
}

template <typename Fn>
OrthancPluginErrorCode call_hook(py::object Hooks::*hook, const char* where, const char* detail,
                                 OrthancPluginErrorCode failed, Fn&& fn) noexcept {
  return call_hook(hook, where, detail, failed, failed, std::forward<Fn>(fn));
}

// Per-area module initialisers (sdk_*.cpp).
void init_errors(py::module_& m);
void init_rest(py::module_& m);
void init_route_gate(py::module_& m);
void init_fast_path(py::module_& m);
void init_inline_path(py::module_& m);
void init_events(py::module_& m);
void init_misc(py::module_& m);
void init_gates(py::module_& m);
void init_jobs(py::module_& m);
void init_scp(py::module_& m);
void init_api(py::module_& m);        // generated (sdk_api.cpp)
void init_api_extra(py::module_& m);  // hand-written SDK calls the generator leaves out

// The embedded interpreter (interpreter.cpp): started once, finalised at
// process exit, and reused when Orthanc restarts its plugins.
// Adds `_orthanc_native` to Python's built-in modules; false (and why) once Python runs.
bool add_native_module(std::string& why);
bool start_interpreter(const std::string& python_executable, std::string& error);
// Whether the libpython in the process is the one of the venv of `python_executable`
// (another plugin may have brought its own); `why` says what differs.
bool library_fits(const std::string& python_executable, std::string& why);
// The bin/python of the virtual environment this plugin library lies in (a wheel's
// plugin); false with the reason in `why` when there is none.
bool python_of_own_venv(std::string& python, std::string& why);
bool interpreter_running();
const std::string& interpreter_executable();

}  // namespace ort

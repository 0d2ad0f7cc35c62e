// One place for exception translation: SdkError becomes the Python
// exception runtime.errors.OrthancException(code, description).
#include "native.hpp"

namespace ort {

std::string error_description(OrthancPluginErrorCode code) {
  const char* text = OrthancPluginGetErrorDescription(context(), code);
  return text ? std::string(text) : std::string("Orthanc error ") + std::to_string(code);
}

SdkError::SdkError(OrthancPluginErrorCode code) : code_(code), message_(error_description(code)) {}

SdkError::SdkError(OrthancPluginErrorCode code, const std::string& detail)
    : code_(code), message_(detail + ": " + error_description(code)) {}

void init_errors(py::module_& m) {
  (void)m;
  py::register_exception_translator([](std::exception_ptr pointer) {
    try {
      if (pointer) std::rethrow_exception(pointer);
    } catch (const SdkError& error) {
      py::object cls = py::module_::import("runtime.errors").attr("OrthancException");
      py::object instance = cls(static_cast<int>(error.code()), error.what());
      PyErr_SetObject(cls.ptr(), instance.ptr());
    }
  });
}

void log_python_error(const std::string& where, py::error_already_set& error) {
  std::string text = where + ": " + error.what();
  try {
    py::object formatted = py::module_::import("traceback").attr("format_exception")(
        error.type(), error.value(), error.trace());
    text = where + ":\n" + py::str("").attr("join")(formatted).cast<std::string>();
  } catch (...) {
  }
  log_error(text);
}

namespace {

// The last resort when building the message failed (out of memory): the bare
// C string, without allocating.
void log_where(const char* where) noexcept {
  try {
    OrthancPluginLogError(context(), where);
  } catch (...) {
  }
}

std::string headline(const char* where, const char* detail) {
  std::string text(where);
  if (detail) text += std::string(" ") + detail;
  return text;
}

}  // namespace

void report_python_error(const char* where, const char* detail,
                         py::error_already_set& error) noexcept {
  try {
    py::gil_scoped_acquire gil;
    log_python_error(headline(where, detail), error);
  } catch (...) {
    log_where(where);
  }
}

void report_error(const char* where, const char* detail, const char* what) noexcept {
  try {
    log_error(headline(where, detail) + ": " + what);
  } catch (...) {
    log_where(where);
  }
}

std::string buffer_from(const py::handle& value) {
  if (PyUnicode_Check(value.ptr())) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    if (!data) throw py::error_already_set();
    return std::string(data, static_cast<size_t>(size));
  }
  if (value.is_none()) return std::string();
  Py_buffer view;
  if (PyObject_GetBuffer(value.ptr(), &view, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    throw py::type_error(std::string("expected str or a bytes-like object, not ") +
                         Py_TYPE(value.ptr())->tp_name);
  }
  std::string result(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));
  PyBuffer_Release(&view);
  return result;
}

}  // namespace ort

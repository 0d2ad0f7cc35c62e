// An opaque SDK object seen from Python (Image, Peers, DicomInstance...).
//
// Owned objects (created by a call such as OrthancPluginDecodeDicomImage) are
// freed with their Free* function when Python drops the last reference.
// Borrowed ones (a RestOutput, the DicomInstance of a callback) are valid only
// while their callback runs: the trampoline invalidates them on return, and
// from then on every use raises instead of touching freed memory.
#pragma once

#include "native.hpp"

#include <memory>
#include <string>

namespace ort {

template <typename T>
class Handle {
 public:
  using Free = void (*)(OrthancPluginContext*, T*);

  Handle(T* pointer, Free free, const char* what) : pointer_(pointer), free_(free), what_(what) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  // Once the plugin is finalised, Orthanc may be tearing itself down: an object
  // Python still holds then (a global, freed when the interpreter exits) is left
  // to the process's end rather than handed to a dying Orthanc.
  virtual ~Handle() {
    if (pointer_ && free_ && context() && python_alive()) free_(context(), pointer_);
  }

  T* get() const {
    if (!pointer_) {
      throw py::value_error(std::string("this ") + what_ +
                            " is no longer valid: it belonged to a callback that has returned; "
                            "copy what you need while the callback runs");
    }
    return pointer_;
  }
  void invalidate() { pointer_ = nullptr; }
  bool valid() const { return pointer_ != nullptr; }

 private:
  T* pointer_;
  Free free_;
  const char* what_;
};

// An object Orthanc lends a callback: Python sees it as a Handle while the
// callback runs, and every use after the callback returns raises (Python may
// keep a reference; the object itself is gone by then).
template <typename T>
class Borrowed {
 public:
  Borrowed(const T* pointer, const char* what)
      : handle_(std::make_shared<Handle<T>>(const_cast<T*>(pointer), nullptr, what)) {}
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  ~Borrowed() { handle_->invalidate(); }
  py::object object() const { return py::cast(handle_); }

 private:
  std::shared_ptr<Handle<T>> handle_;
};

// Wraps a new object that Python owns; a null pointer is Orthanc's failure.
template <typename T>
std::shared_ptr<Handle<T>> own(T* pointer, typename Handle<T>::Free free, const char* what,
                               const char* call) {
  if (!pointer) {
    throw SdkError(OrthancPluginErrorCode_InternalError, std::string(call) + " failed");
  }
  return std::make_shared<Handle<T>>(pointer, free, what);
}

// The Python class of each handle type, registered once by the generated code.
template <typename T>
void bind_handle(py::module_& m, const char* name) {
  py::class_<Handle<T>, std::shared_ptr<Handle<T>>>(m, name)
      .def_property_readonly("valid", &Handle<T>::valid);
}

// A str or bytes-like argument as a buffer; a TypeError names the call and the parameter.
inline std::string buffer_arg(const py::handle& value, const char* call, const char* parameter) {
  if (!value.is_none() && !PyUnicode_Check(value.ptr()) && !PyObject_CheckBuffer(value.ptr())) {
    throw py::type_error(std::string(call) + "(): " + parameter +
                         " must be bytes, a bytes-like object or str, not " +
                         Py_TYPE(value.ptr())->tp_name);
  }
  return buffer_from(value);
}

// Takes an owned string from the SDK: freed on every path; null is a failure.
inline std::string take_string(char* text, const char* call) {
  if (!text) throw SdkError(OrthancPluginErrorCode_InternalError, std::string(call) + " failed");
  std::string result(text);
  OrthancPluginFreeString(context(), text);
  return result;
}

}  // namespace ort

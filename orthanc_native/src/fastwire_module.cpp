// `orthanc_native._fastwire`: a pool worker's side of the fast path's frames, in C.
//
// fast_path.cpp writes a request frame to a worker's pipe and reads the answer frame back;
// the worker (runtime.worker.fast) decodes the one and encodes the other once a request.
// In Python that was about 40 % of a trivial offloaded route's cost in the worker (some
// 60 calls a frame, run with caches cold after the worker slept in read()). This module
// does the same two steps in one call each; runtime.backends.fastwire uses it when it can
// be imported and keeps the Python codec, the format's reference, otherwise. The format
// is described there; tests/unit/test_fastwire.py checks that both codecs agree.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace py = pybind11;

namespace {

// Reads a request frame; every step checks that the frame holds what it announces.
class Reader {
 public:
  Reader(const char* data, std::size_t size) : data_(data), size_(size) {}

  std::uint32_t u32() {
    if (size_ - at_ < 4) throw py::value_error("a fast frame is cut short");
    const auto* p = reinterpret_cast<const unsigned char*>(data_ + at_);
    at_ += 4;
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
           (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  }

  // The next length-prefixed field: where it starts, and its size.
  const char* field(std::size_t* size) {
    std::size_t n = u32();
    if (size_ - at_ < n) throw py::value_error("a fast frame is cut short");
    const char* start = data_ + at_;
    at_ += n;
    *size = n;
    return start;
  }

  // Text from a client need not be UTF-8: replaced, as the Python path decodes it.
  py::object text() {
    std::size_t n = 0;
    const char* start = field(&n);
    PyObject* made = PyUnicode_DecodeUTF8(start, static_cast<Py_ssize_t>(n), "replace");
    if (made == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(made);
  }

  py::bytes raw() {
    std::size_t n = 0;
    const char* start = field(&n);
    return py::bytes(start, n);
  }

  py::dict pairs() {
    py::dict found;
    for (std::uint32_t count = u32(); count > 0; count--) {
      py::object key = text();
      py::object value = text();
      if (PyDict_SetItem(found.ptr(), key.ptr(), value.ptr()) != 0) throw py::error_already_set();
    }
    return found;
  }

  bool done() const { return at_ == size_; }

 private:
  const char* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

py::tuple decode_request(const py::bytes& data) {
  char* start = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(data.ptr(), &start, &size) != 0) throw py::error_already_set();
  Reader reader(start, static_cast<std::size_t>(size));
  py::object descriptor = reader.text();
  py::object method = reader.text();
  py::object url = reader.text();
  py::object request_id = reader.text();
  std::uint32_t count = reader.u32();
  if (count > static_cast<std::uint64_t>(size) / 4) throw py::value_error("a fast frame is cut short");
  py::tuple groups(count);
  for (std::uint32_t i = 0; i < count; i++) groups[i] = reader.text();
  py::dict headers = reader.pairs();
  py::dict get = reader.pairs();
  py::bytes body = reader.raw();
  if (!reader.done()) throw py::value_error("a fast request frame has bytes after its body");
  return py::make_tuple(descriptor, method, url, groups, headers, get, body, request_id);
}

void put_u32(std::string& out, std::size_t value) {
  if (value > 0xffffffffu) throw py::value_error("a fast frame's field is 4 GiB or more");
  const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                         static_cast<char>(value >> 8), static_cast<char>(value)};
  out.append(bytes, 4);
}

void put_text(std::string& out, const py::handle& text) {
  Py_ssize_t n = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(text.ptr(), &n);
  if (utf8 == nullptr) throw py::error_already_set();
  put_u32(out, static_cast<std::size_t>(n));
  out.append(utf8, static_cast<std::size_t>(n));
}

void put_pairs(std::string& out, const py::handle& pairs) {
  for (py::handle pair : pairs) {
    if (!PyTuple_Check(pair.ptr()) || PyTuple_GET_SIZE(pair.ptr()) != 2) {
      throw py::type_error("a header is a (name, value) tuple");
    }
    put_text(out, PyTuple_GET_ITEM(pair.ptr(), 0));
    put_text(out, PyTuple_GET_ITEM(pair.ptr(), 1));
  }
}

// status(u32) plan(u8) content_type extra n (name value)*n body: `headers`, then `more`.
py::bytes encode_answer(std::uint32_t status, std::uint8_t kind, const py::str& content_type,
                        const py::str& extra, const py::tuple& headers, const py::bytes& body,
                        const py::tuple& more) {
  char* body_data = nullptr;
  Py_ssize_t body_size = 0;
  if (PyBytes_AsStringAndSize(body.ptr(), &body_data, &body_size) != 0) throw py::error_already_set();
  std::string head;  // all but the body, which is copied once, into the answer itself
  put_u32(head, status);
  head.push_back(static_cast<char>(kind));
  put_text(head, content_type);
  put_text(head, extra);
  put_u32(head, headers.size() + more.size());
  put_pairs(head, headers);
  put_pairs(head, more);
  put_u32(head, static_cast<std::size_t>(body_size));
  PyObject* made = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(head.size()) + body_size);
  if (made == nullptr) throw py::error_already_set();
  char* into = PyBytes_AS_STRING(made);
  std::memcpy(into, head.data(), head.size());
  if (body_size > 0) std::memcpy(into + head.size(), body_data, static_cast<std::size_t>(body_size));
  return py::reinterpret_steal<py::bytes>(made);
}

}  // namespace

PYBIND11_MODULE(_fastwire, m) {
  m.doc() = "The fast path's request and answer frames, decoded and encoded in one call each";
  m.def("decode_request", &decode_request, py::arg("data"),
        "(descriptor, method, url, groups, headers, get, body, request_id) of a request frame");
  m.def("encode_answer", &encode_answer, py::arg("status"), py::arg("kind"),
        py::arg("content_type"), py::arg("extra"), py::arg("headers"), py::arg("body"),
        py::arg("more"), "The answer frame: `headers`, then `more`, before the body");
}

// The embedded module `_orthanc_native`: one definition calling the
// initialiser of each SDK area.
#include "native.hpp"

#include <pybind11/embed.h>

PYBIND11_EMBEDDED_MODULE(_orthanc_native, m) {
  m.doc() = "Thin binding of the Orthanc plugin SDK for orthanc-runtime (only inside Orthanc)";
  ort::init_errors(m);
  ort::init_api(m);  // first: the handle classes that RestOutput and DicomInstance extend
  ort::init_api_extra(m);
  ort::init_rest(m);
  ort::init_route_gate(m);
  ort::init_fast_path(m);
  ort::init_inline_path(m);
  ort::init_events(m);
  ort::init_misc(m);
  ort::init_gates(m);
  ort::init_jobs(m);
  ort::init_scp(m);
}

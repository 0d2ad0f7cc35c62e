// `orthanc_native._regex`: the boost::regex engine that Orthanc uses to match
// plugin routes, so route patterns are checked (and tested) with the real
// engine before they reach Orthanc.
#include <boost/regex.hpp>
#include <pybind11/pybind11.h>

#include <string>

namespace py = pybind11;

PYBIND11_MODULE(_regex, m) {
  m.doc() = "Route patterns checked and matched with boost::regex, as Orthanc does";
  m.def("check", [](const std::string& pattern) -> py::object {
    try {
      boost::regex compiled(pattern);
      (void)compiled;
      return py::none();
    } catch (const std::exception& e) {
      return py::str(e.what());
    }
  }, py::arg("pattern"), "None if boost accepts the pattern, else its error message.");
  m.def("match", [](const std::string& pattern, const std::string& text) -> py::object {
    boost::regex compiled(pattern);
    boost::smatch what;
    if (!boost::regex_match(text, what, compiled)) return py::none();
    py::tuple groups(what.size() - 1);
    for (size_t i = 1; i < what.size(); i++) groups[i - 1] = py::str(what[i].str());
    return groups;
  }, py::arg("pattern"), py::arg("text"), "Whole-string match: the groups, or None.");
}

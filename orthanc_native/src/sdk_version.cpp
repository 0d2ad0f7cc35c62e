// See sdk_version.hpp.
#include "sdk_version.hpp"

#include "native.hpp"

namespace ort {

namespace {

std::string dotted(int major, int minor, int revision) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(revision);
}

}  // namespace

std::string running_orthanc_version() {
  OrthancPluginContext* c = context();
  return c && c->orthancVersion ? std::string(c->orthancVersion) : std::string("unknown");
}

bool orthanc_at_least(int major, int minor, int revision) {
  OrthancPluginContext* c = context();
  return c && OrthancPluginCheckVersionAdvanced(c, major, minor, revision) == 1;
}

void require_orthanc(const char* what, int major, int minor, int revision) {
  if (orthanc_at_least(major, minor, revision)) return;
  throw SdkError(OrthancPluginErrorCode_NotImplemented,
                 std::string(what) + " needs Orthanc " + dotted(major, minor, revision) +
                     " or newer; this is Orthanc " + running_orthanc_version(),
                 SdkError::Exact{});
}

void needs_newer_sdk(const char* what, int major, int minor, int revision) {
  throw SdkError(OrthancPluginErrorCode_NotImplemented,
                 std::string(what) + " needs Orthanc " + dotted(major, minor, revision) +
                     " or newer; this plugin was built against the SDK of Orthanc " +
                     built_sdk_version() + ": rebuild it where orthanc-dev is " +
                     dotted(major, minor, revision) + " or newer",
                 SdkError::Exact{});
}

std::string built_sdk_version() {
  return dotted(ORTHANC_PLUGINS_MINIMAL_MAJOR_NUMBER, ORTHANC_PLUGINS_MINIMAL_MINOR_NUMBER,
                ORTHANC_PLUGINS_MINIMAL_REVISION_NUMBER);
}

}  // namespace ort

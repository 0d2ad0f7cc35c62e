// Which Orthanc runs the plugin, and whether it has a feature.
//
// One source builds against the SDK headers of Orthanc 1.10 to 1.13. A call that
// needs a newer Orthanc than the running one, or than the header the plugin was
// built against, raises orthanc.OrthancException naming the version it needs:
// never a crash, never a silent no-op.
//
//   #if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 8)        // the header has it
//     require_orthanc("StoreKeyValue", 1, 12, 8);          // the running Orthanc has it
//     ... the SDK call ...
//   #else
//     needs_newer_sdk("StoreKeyValue", 1, 12, 8);          // built against an older header
//   #endif
#pragma once

#include <string>

namespace ort {

// The oldest Orthanc the plugin supports; the plugin refuses to load into an older one.
constexpr int kOldestMajor = 1, kOldestMinor = 10, kOldestRevision = 0;

// The running Orthanc's version as Orthanc reports it ("1.12.7", "mainline").
std::string running_orthanc_version();

// Whether the running Orthanc is at least major.minor.revision ("mainline" is newer
// than every release).
bool orthanc_at_least(int major, int minor, int revision);

// Raises OrthancException (NotImplemented) unless the running Orthanc is at least
// that version: "<what> needs Orthanc 1.12.8 or newer; this is Orthanc 1.10.1".
void require_orthanc(const char* what, int major, int minor, int revision);

// Raises OrthancException (NotImplemented): the plugin was built against an SDK
// header older than the one that declares `what`.
[[noreturn]] void needs_newer_sdk(const char* what, int major, int minor, int revision);

// The "X.Y.Z" of the SDK header the plugin was built against.
std::string built_sdk_version();

}  // namespace ort

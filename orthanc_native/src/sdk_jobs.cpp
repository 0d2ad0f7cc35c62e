// Jobs: a Python object behind each job of Orthanc's job engine.
//
// Orthanc calls a job's callbacks (step, stop, reset, progress, content,
// serialization, finalize) on the job's own thread, one at a time; each
// trampoline below takes the GIL and calls one method of the Python object
// (runtime.jobs.EngineJob, or a compat Job), which holds the logic. The strings
// Orthanc reads after a callback returns (content, serialization) live in the
// C++ holder until the next call.
#include "native.hpp"

#include <memory>

namespace ort {

namespace {

struct JobHolder {
  py::object job;
  std::string content;
  std::string serialized;
};

JobHolder* holder_of(void* job) { return static_cast<JobHolder*>(job); }

void finalize_trampoline(void* job) {
  JobHolder* holder = holder_of(job);
  if (!python_alive()) {
    // The interpreter is stopping or gone: a reference cannot be dropped
    // safely, so it is left to the end of the process.
    holder->job.release();
    delete holder;
    return;
  }
  protect("orthanc-runtime: finalizing a job failed", nullptr, OrthancPluginErrorCode_Plugin, [&] {
    CallbackGil gil;
    std::unique_ptr<JobHolder> owned(holder);  // freed with the GIL held, whatever happens
    owned->job.attr("finalize")();
    return OrthancPluginErrorCode_Success;
  });
}

float progress_trampoline(void* job) {
  float progress = 0.0f;
  call_python("orthanc-runtime: the progress of a job failed", nullptr,
              OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Plugin, [&] {
    progress = holder_of(job)->job.attr("progress")().cast<float>();
    return OrthancPluginErrorCode_Success;
  });
  return progress;
}

const char* content_trampoline(void* job) {
  JobHolder* holder = holder_of(job);
  OrthancPluginErrorCode code = call_python(
      "orthanc-runtime: the content of a job failed", nullptr, OrthancPluginErrorCode_Plugin,
      OrthancPluginErrorCode_Plugin, [&] {
    holder->content = buffer_from(holder->job.attr("content")());
    return OrthancPluginErrorCode_Success;
  });
  // Orthanc insists on a JSON object: an empty one rather than an error.
  return code == OrthancPluginErrorCode_Success ? holder->content.c_str() : "{}";
}

const char* serialized_trampoline(void* job) {
  JobHolder* holder = holder_of(job);
  bool has = false;
  call_python("orthanc-runtime: serializing a job failed", nullptr, OrthancPluginErrorCode_Plugin,
              OrthancPluginErrorCode_Plugin, [&] {
    py::object value = holder->job.attr("serialized")();
    has = !value.is_none();
    if (has) holder->serialized = buffer_from(value);
    return OrthancPluginErrorCode_Success;
  });
  // NULL: this job is not saved (Orthanc keeps the last snapshot it had).
  return has ? holder->serialized.c_str() : nullptr;
}

OrthancPluginJobStepStatus step_trampoline(void* job) {
  int status = OrthancPluginJobStepStatus_Failure;
  call_python("orthanc-runtime: a step of a job failed", nullptr, OrthancPluginErrorCode_Plugin,
              OrthancPluginErrorCode_Plugin, [&] {
    status = holder_of(job)->job.attr("step")().cast<int>();
    return OrthancPluginErrorCode_Success;
  });
  if (status != OrthancPluginJobStepStatus_Success && status != OrthancPluginJobStepStatus_Continue) {
    return OrthancPluginJobStepStatus_Failure;
  }
  return static_cast<OrthancPluginJobStepStatus>(status);
}

OrthancPluginErrorCode stop_trampoline(void* job, OrthancPluginJobStopReason reason) {
  return call_python("orthanc-runtime: stopping a job failed", nullptr,
                     OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Success, [&] {
    holder_of(job)->job.attr("stop")(static_cast<int>(reason));
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode reset_trampoline(void* job) {
  return call_python("orthanc-runtime: resetting a job failed", nullptr,
                     OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Plugin, [&] {
    holder_of(job)->job.attr("reset")();
    return OrthancPluginErrorCode_Success;
  });
}

// Wraps a Python job into an Orthanc job (with the GIL held). On failure,
// Orthanc has already called finalize, which freed the holder.
OrthancPluginJob* create_job(const py::object& job, const std::string& type) {
  auto holder = std::make_unique<JobHolder>();
  holder->job = job;
  JobHolder* raw = holder.release();
  OrthancPluginJob* created = OrthancPluginCreateJob(
      context(), raw, finalize_trampoline, type.c_str(), progress_trampoline, content_trampoline,
      serialized_trampoline, step_trampoline, stop_trampoline, reset_trampoline);
  if (!created) throw SdkError(OrthancPluginErrorCode_Plugin);
  return created;
}

std::string submit_job(const py::object& job, const std::string& type, int priority) {
  OrthancPluginJob* created = create_job(job, type);
  char* id;
  {
    // Orthanc asks the new job for its progress and content while it submits
    // it: those callbacks take the GIL on this thread.
    py::gil_scoped_release release;
    id = OrthancPluginSubmitJob(context(), created, priority);
  }
  if (!id) {
    // Not submitted: the job is still ours to free (its finalize runs).
    OrthancPluginFreeJob(context(), created);
    throw SdkError(OrthancPluginErrorCode_Plugin);
  }
  std::string result(id);
  OrthancPluginFreeString(context(), id);
  return result;
}

OrthancPluginJob* unserialize_trampoline(const char* type, const char* serialized) {
  if (!type || !serialized) return nullptr;
  OrthancPluginJob* created = nullptr;
  call_hook(&Hooks::unserialize_job, "orthanc-runtime: unserializing a job failed for", type,
            OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Success,
            [&](const py::object& hook) {
    py::object job = hook(py::str(type), py::str(serialized));
    if (!job.is_none()) created = create_job(job, type);
    return OrthancPluginErrorCode_Success;
  });
  return created;  // NULL: not one of ours, Orthanc asks the other plugins
}

}  // namespace

void init_jobs(py::module_& m) {
  m.def("submit_job", &submit_job, py::arg("job"), py::arg("type"), py::arg("priority"),
        "Wraps a Python job (step, stop, reset, progress, content, serialized, finalize) into an "
        "Orthanc job and submits it; returns Orthanc's job id.");
  m.def("set_job_unserializer", [](py::object unserialize) {
    hooks()->unserialize_job = unserialize;
  });
  m.def("register_jobs_unserializer", []() {
    without_gil([] { OrthancPluginRegisterJobsUnserializer(context(), unserialize_trampoline); });
  });
}

}  // namespace ort

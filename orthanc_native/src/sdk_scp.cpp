// The DICOM services a script may answer: C-FIND, modality worklists, C-MOVE,
// storage commitment, and the filter of instances received by C-STORE. Each
// trampoline hands Python Orthanc's objects (valid while it runs) or plain
// values, and turns what runtime/scp.py answers into what Orthanc expects.
// A failure answers the DICOM client an error status, never hangs it.
#include "handles.hpp"

#include <memory>

namespace ort {

namespace {

py::str text(const char* value) { return py::str(value ? value : ""); }

// A Python object Orthanc keeps for us between callbacks (a C-MOVE driver, a
// storage-commitment handler). Dropping it needs the GIL; once the interpreter
// is gone (Orthanc stopping), it is left to the end of the process.
py::object* keep(py::object value) { return new py::object(std::move(value)); }

void drop(void* kept) {
  if (!kept || !python_alive()) return;
  std::unique_ptr<py::object> owned(static_cast<py::object*>(kept));
  CallbackGil gil;
  owned.reset();
}

OrthancPluginErrorCode as_error_code(const py::object& answer) {
  return static_cast<OrthancPluginErrorCode>(answer.cast<int>());
}

OrthancPluginErrorCode find_trampoline(OrthancPluginFindAnswers* answers,
                                       const OrthancPluginFindQuery* query,
                                       const char* issuer_aet, const char* called_aet) {
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  return protect("orthanc-runtime: C-FIND failed, from", issuer_aet,
                 OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->find) return OrthancPluginErrorCode_Plugin;
    Borrowed<OrthancPluginFindAnswers> wrapped_answers(answers, "FindAnswers");
    Borrowed<OrthancPluginFindQuery> wrapped_query(query, "FindQuery");
    return as_error_code(h->find(wrapped_answers.object(), wrapped_query.object(),
                                 text(issuer_aet), text(called_aet)));
  });
}

OrthancPluginErrorCode worklist_trampoline(OrthancPluginWorklistAnswers* answers,
                                           const OrthancPluginWorklistQuery* query,
                                           const char* issuer_aet, const char* called_aet) {
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  return protect("orthanc-runtime: the worklist C-FIND failed, from", issuer_aet,
                 OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->worklist) return OrthancPluginErrorCode_Plugin;
    Borrowed<OrthancPluginWorklistAnswers> wrapped_answers(answers, "WorklistAnswers");
    Borrowed<OrthancPluginWorklistQuery> wrapped_query(query, "WorklistQuery");
    return as_error_code(h->worklist(wrapped_answers.object(), wrapped_query.object(),
                                     text(issuer_aet), text(called_aet)));
  });
}

// C-MOVE: Python makes a driver (any object; None refuses the move), tells how
// many sub-operations it has, applies them one by one, and is told when Orthanc
// is done with it.
void* move_create(OrthancPluginResourceType level, const char* patient_id,
                  const char* accession_number, const char* study_uid, const char* series_uid,
                  const char* sop_uid, const char* originator_aet, const char* source_aet,
                  const char* target_aet, uint16_t originator_id) {
  if (!python_alive()) return nullptr;
  void* driver = nullptr;
  protect("orthanc-runtime: C-MOVE failed, to", target_aet, OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->move_create) return OrthancPluginErrorCode_Plugin;
    py::object made = h->move_create(static_cast<int>(level), text(patient_id),
                                     text(accession_number), text(study_uid), text(series_uid),
                                     text(sop_uid), text(originator_aet), text(source_aet),
                                     text(target_aet), static_cast<int>(originator_id));
    if (!made.is_none()) driver = keep(std::move(made));
    return OrthancPluginErrorCode_Success;
  });
  return driver;
}

uint32_t move_size(void* driver) {
  if (!python_alive()) return 0;
  uint32_t size = 0;
  protect("orthanc-runtime: C-MOVE failed to count its sub-operations", nullptr,
          OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->move_size) return OrthancPluginErrorCode_Plugin;
    size = h->move_size(*static_cast<py::object*>(driver)).cast<uint32_t>();
    return OrthancPluginErrorCode_Success;
  });
  return size;
}

OrthancPluginErrorCode move_apply(void* driver) {
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  return protect("orthanc-runtime: a C-MOVE sub-operation failed", nullptr,
                 OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->move_apply) return OrthancPluginErrorCode_Plugin;
    return as_error_code(h->move_apply(*static_cast<py::object*>(driver)));
  });
}

void move_free(void* driver) {
  if (!driver || !python_alive()) return;
  protect("orthanc-runtime: ending a C-MOVE failed", nullptr, OrthancPluginErrorCode_Plugin,
          [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (h->move_free) h->move_free(*static_cast<py::object*>(driver));
    return OrthancPluginErrorCode_Success;
  });
  drop(driver);
}

// Storage commitment: Python makes a handler for each request, then answers
// for each instance whether it is kept (a StorageCommitmentFailureReason).
OrthancPluginErrorCode commitment_create(void** handler, const char* job_id,
                                         const char* transaction_uid,
                                         const char* const* class_uids,
                                         const char* const* instance_uids, uint32_t count,
                                         const char* remote_aet, const char* called_aet) {
  *handler = nullptr;
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  return protect("orthanc-runtime: storage commitment failed, transaction", transaction_uid,
                 OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->commitment_create) return OrthancPluginErrorCode_Plugin;
    py::list classes;
    py::list instances;
    for (uint32_t i = 0; i < count; i++) {
      classes.append(text(class_uids[i]));
      instances.append(text(instance_uids[i]));
    }
    *handler = keep(h->commitment_create(text(job_id), text(transaction_uid), classes, instances,
                                         text(remote_aet), text(called_aet)));
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode commitment_lookup(OrthancPluginStorageCommitmentFailureReason* target,
                                         void* handler, const char* class_uid,
                                         const char* instance_uid) {
  *target = OrthancPluginStorageCommitmentFailureReason_ProcessingFailure;
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  return protect("orthanc-runtime: storage commitment failed for", instance_uid,
                 OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->commitment_lookup) return OrthancPluginErrorCode_Plugin;
    py::object reason = h->commitment_lookup(*static_cast<py::object*>(handler),
                                             text(class_uid), text(instance_uid));
    *target = static_cast<OrthancPluginStorageCommitmentFailureReason>(reason.cast<int>());
    return OrthancPluginErrorCode_Success;
  });
}

// Python answers the DIMSE status: 0 stores the instance; any other value
// discards it and is what the C-STORE client receives. Fails closed.
constexpr uint16_t kProcessingFailure = 0x0110;

int32_t cstore_filter_trampoline(uint16_t* dimse_status, const OrthancPluginDicomInstance* instance) {
  *dimse_status = kProcessingFailure;
  if (!python_alive()) return 0;
  int32_t keep_it = 0;
  protect("orthanc-runtime: the C-STORE filter failed, the instance is refused", nullptr,
          OrthancPluginErrorCode_Plugin, [&]() {
    CallbackGil gil;
    Hooks* h = hooks();
    if (!h->cstore_filter) return OrthancPluginErrorCode_Plugin;
    Borrowed<OrthancPluginDicomInstance> wrapped(instance, "DicomInstance");
    int status = h->cstore_filter(wrapped.object()).cast<int>();
    if (status == 0) {
      keep_it = 1;
    } else {
      *dimse_status = static_cast<uint16_t>(status);
    }
    return OrthancPluginErrorCode_Success;
  });
  return keep_it;
}

}  // namespace

void init_scp(py::module_& m) {
  m.def("register_find", [](py::object handler) {
    hooks()->find = std::move(handler);
    check(without_gil([] { return OrthancPluginRegisterFindCallback(context(), find_trampoline); }));
  });
  m.def("register_worklist", [](py::object handler) {
    hooks()->worklist = std::move(handler);
    check(without_gil([] { return OrthancPluginRegisterWorklistCallback(context(), worklist_trampoline); }));
  });
  m.def("register_move", [](py::object create, py::object size, py::object apply,
                            py::object free) {
    Hooks* h = hooks();
    h->move_create = std::move(create);
    h->move_size = std::move(size);
    h->move_apply = std::move(apply);
    h->move_free = std::move(free);
    check(without_gil([] {
      return OrthancPluginRegisterMoveCallback(context(), move_create, move_size, move_apply,
                                               move_free);
    }));
  });
  m.def("register_storage_commitment", [](py::object create, py::object lookup) {
    Hooks* h = hooks();
    h->commitment_create = std::move(create);
    h->commitment_lookup = std::move(lookup);
    check(without_gil([] {
      return OrthancPluginRegisterStorageCommitmentScpCallback(context(), commitment_create, drop,
                                                              commitment_lookup);
    }));
  });
  m.def("register_cstore_filter", [](py::object filter) {
    hooks()->cstore_filter = std::move(filter);
    check(without_gil([] { return OrthancPluginRegisterIncomingCStoreInstanceFilter(context(), cstore_filter_trampoline); }));
  });
}

}  // namespace ort

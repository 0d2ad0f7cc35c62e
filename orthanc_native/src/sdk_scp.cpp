// The DICOM services a script may answer: C-FIND, modality worklists, C-MOVE,
// storage commitment, and the filter of instances received by C-STORE. Each
// trampoline hands Python Orthanc's objects (valid while it runs) or plain
// values, and turns what runtime/callbacks/dicom.py answers into what Orthanc expects.
// A failure answers the DICOM client an error status, never hangs it.
//
// Who asked (the calling AET, the called AET, the remote IP) reaches Python the
// same way on every Orthanc: from Orthanc's DicomConnection where the running
// Orthanc and the header have it (1.12.10 and newer: the "2" registrations),
// else from the AETs the older callbacks pass, with no remote IP (None).
#include "handles.hpp"
#include "sdk_version.hpp"

#include <memory>

namespace ort {

namespace {

py::str text(const char* value) { return py::str(value ? value : ""); }

// Who is on the other end of a DICOM association, read while the callback runs.
struct Peer {
  std::string remote_aet;
  std::string called_aet;
  bool has_ip = false;
  std::string remote_ip;

  // From what an older callback passes: the AETs, no IP.
  static Peer from_aets(const char* remote_aet, const char* called_aet) {
    return Peer{remote_aet ? remote_aet : "", called_aet ? called_aet : "", false, ""};
  }
  py::object ip() const { return has_ip ? py::object(py::str(remote_ip)) : py::object(py::none()); }
};

#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
// Orthanc 1.12.10's connection object; called without the GIL (the strings are copied).
Peer peer_of(const OrthancPluginDicomConnection* connection) {
  Peer peer;
  if (!connection) return peer;
  const char* remote = OrthancPluginGetConnectionRemoteAet(context(), connection);
  const char* called = OrthancPluginGetConnectionCalledAet(context(), connection);
  const char* ip = OrthancPluginGetConnectionRemoteIp(context(), connection);
  peer.remote_aet = remote ? remote : "";
  peer.called_aet = called ? called : "";
  peer.has_ip = ip != nullptr;
  peer.remote_ip = ip ? ip : "";
  return peer;
}

// Whether the DICOM services register the callbacks that get Orthanc's connection.
bool with_connection() { return orthanc_at_least(1, 12, 10); }
#else
bool with_connection() { return false; }
#endif

// A Python object Orthanc keeps for us between callbacks (a C-MOVE driver, a
// storage-commitment handler). Dropping it needs the GIL; once the interpreter
// is gone (Orthanc stopping), it is left to the end of the process.
py::object* keep(py::object value) { return new py::object(std::move(value)); }

void drop(void* kept) {
  if (!kept || !python_alive()) return;
  std::unique_ptr<py::object> owned(static_cast<py::object*>(kept));
  // Dropping the last reference runs Python (a __del__): on the callback stack, as protect() does.
  on_callback_stack([&]() noexcept {
    try {
      CallbackGil gil;
      owned.reset();
    } catch (...) {
      owned.release();  // leaked rather than freed without the GIL
      report_error("orthanc-runtime: freeing a DICOM service's driver", nullptr,
                   "an exception while taking the GIL");
    }
  });
}

OrthancPluginErrorCode as_error_code(const py::object& answer) {
  return static_cast<OrthancPluginErrorCode>(answer.cast<int>());
}

OrthancPluginErrorCode find_with(OrthancPluginFindAnswers* answers,
                                 const OrthancPluginFindQuery* query, const Peer& peer) {
  return call_hook(&Hooks::find, "orthanc-runtime: C-FIND failed, from", peer.remote_aet.c_str(),
                   OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    Borrowed<OrthancPluginFindAnswers> wrapped_answers(answers, "FindAnswers");
    Borrowed<OrthancPluginFindQuery> wrapped_query(query, "FindQuery");
    return as_error_code(hook(wrapped_answers.object(), wrapped_query.object(),
                              py::str(peer.remote_aet), py::str(peer.called_aet), peer.ip()));
  });
}

OrthancPluginErrorCode find_trampoline(OrthancPluginFindAnswers* answers,
                                       const OrthancPluginFindQuery* query,
                                       const char* issuer_aet, const char* called_aet) {
  return find_with(answers, query, Peer::from_aets(issuer_aet, called_aet));
}

OrthancPluginErrorCode worklist_with(OrthancPluginWorklistAnswers* answers,
                                     const OrthancPluginWorklistQuery* query, const Peer& peer) {
  return call_hook(&Hooks::worklist, "orthanc-runtime: the worklist C-FIND failed, from",
                   peer.remote_aet.c_str(), OrthancPluginErrorCode_Plugin,
                   [&](const py::object& hook) {
    Borrowed<OrthancPluginWorklistAnswers> wrapped_answers(answers, "WorklistAnswers");
    Borrowed<OrthancPluginWorklistQuery> wrapped_query(query, "WorklistQuery");
    return as_error_code(hook(wrapped_answers.object(), wrapped_query.object(),
                              py::str(peer.remote_aet), py::str(peer.called_aet), peer.ip()));
  });
}

OrthancPluginErrorCode worklist_trampoline(OrthancPluginWorklistAnswers* answers,
                                           const OrthancPluginWorklistQuery* query,
                                           const char* issuer_aet, const char* called_aet) {
  return worklist_with(answers, query, Peer::from_aets(issuer_aet, called_aet));
}

// C-MOVE: Python makes a driver (any object; None refuses the move), tells how
// many sub-operations it has, applies them one by one, and is told when Orthanc
// is done with it.
// The older callback's originator AET is the calling AET, its source AET the called one.
void* move_create_with(OrthancPluginResourceType level, const char* patient_id,
                       const char* accession_number, const char* study_uid,
                       const char* series_uid, const char* sop_uid, const Peer& peer,
                       const char* target_aet, uint16_t originator_id) {
  void* driver = nullptr;
  call_hook(&Hooks::move_create, "orthanc-runtime: C-MOVE failed, to", target_aet,
            OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    py::object made = hook(static_cast<int>(level), text(patient_id), text(accession_number),
                           text(study_uid), text(series_uid), text(sop_uid),
                           py::str(peer.remote_aet), py::str(peer.called_aet), text(target_aet),
                           static_cast<int>(originator_id), peer.ip());
    if (!made.is_none()) driver = keep(std::move(made));
    return OrthancPluginErrorCode_Success;
  });
  return driver;
}

void* move_create(OrthancPluginResourceType level, const char* patient_id,
                  const char* accession_number, const char* study_uid, const char* series_uid,
                  const char* sop_uid, const char* originator_aet, const char* source_aet,
                  const char* target_aet, uint16_t originator_id) {
  return move_create_with(level, patient_id, accession_number, study_uid, series_uid, sop_uid,
                          Peer::from_aets(originator_aet, source_aet), target_aet, originator_id);
}

uint32_t move_size(void* driver) {
  uint32_t size = 0;
  call_hook(&Hooks::move_size, "orthanc-runtime: C-MOVE failed to count its sub-operations",
            nullptr, OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    size = hook(*static_cast<py::object*>(driver)).cast<uint32_t>();
    return OrthancPluginErrorCode_Success;
  });
  return size;
}

OrthancPluginErrorCode move_apply(void* driver) {
  return call_hook(&Hooks::move_apply, "orthanc-runtime: a C-MOVE sub-operation failed", nullptr,
                   OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    return as_error_code(hook(*static_cast<py::object*>(driver)));
  });
}

void move_free(void* driver) {
  if (!driver) return;
  call_hook(&Hooks::move_free, "orthanc-runtime: ending a C-MOVE failed", nullptr,
            OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    hook(*static_cast<py::object*>(driver));
    return OrthancPluginErrorCode_Success;
  });
  drop(driver);
}

// Storage commitment: Python makes a handler for each request, then answers
// for each instance whether it is kept (a StorageCommitmentFailureReason).
OrthancPluginErrorCode commitment_create_with(void** handler, const char* job_id,
                                              const char* transaction_uid,
                                              const char* const* class_uids,
                                              const char* const* instance_uids, uint32_t count,
                                              const Peer& peer) {
  *handler = nullptr;
  return call_hook(&Hooks::commitment_create,
                   "orthanc-runtime: storage commitment failed, transaction", transaction_uid,
                   OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    py::list classes;
    py::list instances;
    for (uint32_t i = 0; i < count; i++) {
      classes.append(text(class_uids[i]));
      instances.append(text(instance_uids[i]));
    }
    *handler = keep(hook(text(job_id), text(transaction_uid), classes, instances,
                         py::str(peer.remote_aet), py::str(peer.called_aet), peer.ip()));
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode commitment_create(void** handler, const char* job_id,
                                         const char* transaction_uid,
                                         const char* const* class_uids,
                                         const char* const* instance_uids, uint32_t count,
                                         const char* remote_aet, const char* called_aet) {
  return commitment_create_with(handler, job_id, transaction_uid, class_uids, instance_uids,
                                count, Peer::from_aets(remote_aet, called_aet));
}

#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
// Orthanc 1.12.10's callbacks: the same, with who asked read from the connection.
OrthancPluginErrorCode find_trampoline2(OrthancPluginFindAnswers* answers,
                                        const OrthancPluginFindQuery* query,
                                        const OrthancPluginDicomConnection* connection) {
  return find_with(answers, query, peer_of(connection));
}

OrthancPluginErrorCode worklist_trampoline2(OrthancPluginWorklistAnswers* answers,
                                            const OrthancPluginWorklistQuery* query,
                                            const OrthancPluginDicomConnection* connection) {
  return worklist_with(answers, query, peer_of(connection));
}

void* move_create2(OrthancPluginResourceType level, const char* patient_id,
                   const char* accession_number, const char* study_uid, const char* series_uid,
                   const char* sop_uid, const OrthancPluginDicomConnection* connection,
                   const char* target_aet, uint16_t originator_id) {
  return move_create_with(level, patient_id, accession_number, study_uid, series_uid, sop_uid,
                          peer_of(connection), target_aet, originator_id);
}

OrthancPluginErrorCode commitment_create2(void** handler, const char* job_id,
                                          const char* transaction_uid,
                                          const char* const* class_uids,
                                          const char* const* instance_uids, uint32_t count,
                                          const OrthancPluginDicomConnection* connection) {
  return commitment_create_with(handler, job_id, transaction_uid, class_uids, instance_uids,
                                count, peer_of(connection));
}
#endif

OrthancPluginErrorCode commitment_lookup(OrthancPluginStorageCommitmentFailureReason* target,
                                         void* handler, const char* class_uid,
                                         const char* instance_uid) {
  *target = OrthancPluginStorageCommitmentFailureReason_ProcessingFailure;
  return call_hook(&Hooks::commitment_lookup, "orthanc-runtime: storage commitment failed for",
                   instance_uid, OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    py::object reason = hook(*static_cast<py::object*>(handler), text(class_uid),
                             text(instance_uid));
    *target = static_cast<OrthancPluginStorageCommitmentFailureReason>(reason.cast<int>());
    return OrthancPluginErrorCode_Success;
  });
}

// Python answers the DIMSE status: 0 stores the instance; any other value
// discards it and is what the C-STORE client receives. Fails closed.
constexpr uint16_t kProcessingFailure = 0x0110;

int32_t cstore_filter_trampoline(uint16_t* dimse_status, const OrthancPluginDicomInstance* instance) {
  *dimse_status = kProcessingFailure;
  int32_t keep_it = 0;
  call_hook(&Hooks::cstore_filter,
            "orthanc-runtime: the C-STORE filter failed, the instance is refused", nullptr,
            OrthancPluginErrorCode_Plugin, [&](const py::object& hook) {
    Borrowed<OrthancPluginDicomInstance> wrapped(instance, "DicomInstance");
    int status = hook(wrapped.object()).cast<int>();
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

// Each register_* picks the callback that hands over the most of who asked.
void init_scp(py::module_& m) {
  m.def("dicom_connections_available", &with_connection,
        "Whether the DICOM services get Orthanc's DicomConnection (the remote IP among it)");
  m.def("register_find", [](py::object handler) {
    hooks()->find = std::move(handler);
    check(without_gil([] {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
      if (with_connection()) return OrthancPluginRegisterFindCallback2(context(), find_trampoline2);
#endif
      return OrthancPluginRegisterFindCallback(context(), find_trampoline);
    }));
  });
  m.def("register_worklist", [](py::object handler) {
    hooks()->worklist = std::move(handler);
    check(without_gil([] {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
      if (with_connection()) {
        return OrthancPluginRegisterWorklistCallback2(context(), worklist_trampoline2);
      }
#endif
      return OrthancPluginRegisterWorklistCallback(context(), worklist_trampoline);
    }));
  });
  m.def("register_move", [](py::object create, py::object size, py::object apply,
                            py::object free) {
    Hooks* h = hooks();
    h->move_create = std::move(create);
    h->move_size = std::move(size);
    h->move_apply = std::move(apply);
    h->move_free = std::move(free);
    check(without_gil([] {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
      if (with_connection()) {
        return OrthancPluginRegisterMoveCallback2(context(), move_create2, move_size, move_apply,
                                                  move_free);
      }
#endif
      return OrthancPluginRegisterMoveCallback(context(), move_create, move_size, move_apply,
                                               move_free);
    }));
  });
  m.def("register_storage_commitment", [](py::object create, py::object lookup) {
    Hooks* h = hooks();
    h->commitment_create = std::move(create);
    h->commitment_lookup = std::move(lookup);
    check(without_gil([] {
#if ORTHANC_PLUGINS_VERSION_IS_ABOVE(1, 12, 10)
      if (with_connection()) {
        return OrthancPluginRegisterStorageCommitmentScpCallback2(context(), commitment_create2,
                                                                 drop, commitment_lookup);
      }
#endif
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

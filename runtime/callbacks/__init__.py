"""What Orthanc calls in the master: one module per kind of callback.

    rest.py      REST routes (and the status route's answers, status.py)
    changes.py   the change feed, delivered durably to on-change and on-stored-instance handlers
    gates.py     HTTP and received-instance filters, the storage area
    dicom.py     C-FIND, worklists, C-MOVE, storage commitment, C-STORE filters

runtime.plugin registers them with the native module; each finds the recorded
handler in the registry and runs it through its invoker.
"""

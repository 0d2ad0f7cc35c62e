"""A periodic housekeeping pass, on a timer thread between Orthanc's start and stop.

Every ``HousekeepingSeconds`` (a key of Orthanc's configuration, 300 if absent) the pass
logs how many instances and how much disk Orthanc holds. The timer starts when Orthanc
has started and is cancelled when it stops.
"""

import json
import threading

import orthanc

INTERVAL = float(json.loads(orthanc.GetConfiguration()).get("HousekeepingSeconds", 300))
STATE = {"timer": None, "passes": 0, "running": False}
LOCK = threading.Lock()


def housekeeping():
    statistics = json.loads(orthanc.RestApiGet("/statistics"))
    with LOCK:
        STATE["passes"] += 1
        orthanc.LogWarning(f"housekeeping pass {STATE['passes']}: "
                           f"{statistics['CountInstances']} instances, "
                           f"{statistics['TotalDiskSizeMB']} MB")
        if STATE["running"]:  # not once Orthanc is stopping
            schedule()


def schedule():
    timer = threading.Timer(INTERVAL, housekeeping)
    timer.daemon = True
    STATE["timer"] = timer
    timer.start()


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STARTED:
        orthanc.LogWarning(f"housekeeping every {INTERVAL:g} s")
        with LOCK:
            STATE["running"] = True
            schedule()
    elif change == orthanc.ChangeType.ORTHANC_STOPPED:
        with LOCK:
            STATE["running"] = False
            if STATE["timer"] is not None:
                STATE["timer"].cancel()
                STATE["timer"] = None
            orthanc.LogWarning(f"housekeeping stopped after {STATE['passes']} passes")


orthanc.RegisterOnChangeCallback(on_change)

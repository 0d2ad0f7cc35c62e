"""The benchmark's CPU-bound route for the official plugin, in a ``multiprocessing.Pool``.

Written by this project: the remedy the official documentation proposes for the GIL, a
pool of 4 processes created when the script loads, each call handed to it with
``apply`` while the callback's thread waits. The work is ``official.py``'s (``outer``
rounds of 30,000 square roots).
"""

import math
import multiprocessing
import signal
import time

import orthanc

PROCESSES = 4


def burn(rounds):
    began = time.time()
    for _ in range(rounds):
        for value in range(30000):
            math.sqrt(float(value))
    return f"computation done in {time.time() - began:.3f} seconds\n"


def leave_ctrl_c_to_orthanc():
    """A pool process ignores SIGINT: Orthanc decides when to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


processes = multiprocessing.Pool(PROCESSES, initializer=leave_ctrl_c_to_orthanc)


def computation_in_the_pool(output, uri, **request):
    rounds = int(request.get("get", {}).get("outer", "1000"))
    output.AnswerBuffer(processes.apply(burn, (rounds,)), "text/plain")


orthanc.RegisterRestCallback("/bench/computation", computation_in_the_pool)

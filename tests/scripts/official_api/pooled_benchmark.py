"""The CPU benchmark of ``/site/benchmark/pool``, run in a ``multiprocessing`` pool.

The pool's processes are made when the script loads; a request waits for one of them to
count the primes below ``limit`` (200000 if absent; the answer names the process), so the computation does not hold
the interpreter that Orthanc's other callbacks use. The pool ends when Orthanc stops.
"""

import json
import multiprocessing
import os
import signal
import time

import orthanc


def ignore_interrupts():
    # Ctrl+C is for Orthanc, which then stops the pool itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def timed_prime_count(limit):
    started = time.perf_counter()
    count = sum(1 for n in range(2, limit) if all(n % d for d in range(2, int(n ** 0.5) + 1)))
    return count, round(time.perf_counter() - started, 3), os.getpid()


WORKERS = multiprocessing.Pool(2, initializer=ignore_interrupts)


def benchmark(output, uri, **request):
    limit = int(request["get"].get("limit", "200000"))
    count, seconds, worker = WORKERS.apply(timed_prime_count, (limit,))
    answer = {"limit": limit, "primes": count, "seconds": seconds, "worker_pid": worker}
    output.AnswerBuffer(json.dumps(answer), "application/json")


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STOPPED:
        WORKERS.terminate()
        WORKERS.join()


orthanc.RegisterRestCallback("/site/benchmark/pool", benchmark)
orthanc.RegisterOnChangeCallback(on_change)

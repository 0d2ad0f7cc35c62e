"""A ``multiprocessing.Pool`` with the default start method, made by a plain ``import orthanc`` script.

Python 3.14's default start method on Linux is ``forkserver``, which starts
``sys.executable``: inside Orthanc that must be a python, never the Orthanc binary.
One pool is made when the script loads, another inside a route (an HTTP thread).
"""

import json
import multiprocessing
import os
import sys

import orthanc


def square(x):
    return x * x, os.getpid()


POOL = multiprocessing.Pool(2)


def answer(output, pool):
    results = pool.map(square, range(8))
    output.AnswerBuffer(json.dumps({
        "squares": [value for value, _ in results],
        "worker_pids": sorted({pid for _, pid in results}),
        "orthanc_pid": os.getpid(),
        "start_method": multiprocessing.get_start_method(),
        "executable": sys.executable,
    }), "application/json")


def from_the_loaded_pool(output, uri, **request):
    answer(output, POOL)


def from_a_pool_of_the_route(output, uri, **request):
    with multiprocessing.Pool(2) as pool:
        answer(output, pool)


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STOPPED:
        POOL.terminate()
        POOL.join()


orthanc.RegisterRestCallback("/pool/loaded", from_the_loaded_pool)
orthanc.RegisterRestCallback("/pool/in-route", from_a_pool_of_the_route)
orthanc.RegisterOnChangeCallback(on_change)

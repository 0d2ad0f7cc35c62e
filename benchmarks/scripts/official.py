"""The benchmark's script for the official plugin (Debian's orthanc-python, as ``PythonScript``).

Written by this project for the official plugin's API, to do the same work as
``ours.py``: a CPU-bound route (``outer`` rounds of 30,000 square roots, the loop of the
official documentation's performance section), a trivial route, a route that waits inside
an SDK call (Orthanc fetches ``/system`` from the peer "slow", the benchmark's slow HTTP
server), and the interpreter's version.
"""

import math
import sys
import time

import orthanc

SQUARE_ROOTS_A_ROUND = 30000


def burn(rounds):
    """``rounds`` rounds of square roots: the seconds they took, as the answer's text."""
    began = time.time()
    for _ in range(rounds):
        for value in range(SQUARE_ROOTS_A_ROUND):
            math.sqrt(float(value))
    return f"computation done in {time.time() - began:.3f} seconds\n"


def rounds_asked(request):
    return int(request.get("get", {}).get("outer", "1000"))


def answer_text(output, text, mime="text/plain"):
    output.AnswerBuffer(text, mime)


orthanc.RegisterRestCallback(
    "/bench/computation",
    lambda output, uri, **request: answer_text(output, burn(rounds_asked(request))))
orthanc.RegisterRestCallback(
    "/bench/trivial", lambda output, uri, **request: answer_text(output, "ok"))
orthanc.RegisterRestCallback(
    "/bench/slow-peer",
    lambda output, uri, **request: answer_text(
        output, orthanc.RestApiGet("/peers/slow/system"), "application/json"))
orthanc.RegisterRestCallback(
    "/bench/python", lambda output, uri, **request: answer_text(output, sys.version))

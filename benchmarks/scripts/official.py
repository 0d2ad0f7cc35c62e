"""The official plugin's side of the benchmark (Debian's orthanc-python, loaded by PythonScript).

The seed's CPU-bound computation (documentation sample "computation.py"), its loop
sized by the query's ``outer``, a trivial route, and a route that waits inside an
SDK call: Orthanc fetches ``/system`` from the peer "slow", the benchmark's slow
HTTP server.
"""

# The seed's code as the documentation prints it, for the official plugin.
# ruff: noqa: B007, UP031

import math
import sys
import time

import orthanc


# The seed's loop; only its outer count (1000 in the documentation) is a parameter.
def SlowComputation(outer):
    start = time.time()
    for i in range(outer):
        for j in range(30000):
            math.sqrt(float(j))
    end = time.time()
    duration = (end - start)
    return 'computation done in %.03f seconds\n' % duration


def OnComputation(output, uri, **request):
    outer = int(request.get('get', {}).get('outer', '1000'))
    output.AnswerBuffer(SlowComputation(outer), 'text/plain')


def OnTrivial(output, uri, **request):
    output.AnswerBuffer('ok', 'text/plain')


def OnSlowPeer(output, uri, **request):
    output.AnswerBuffer(orthanc.RestApiGet('/peers/slow/system'), 'application/json')


def OnPython(output, uri, **request):
    output.AnswerBuffer(sys.version, 'text/plain')


orthanc.RegisterRestCallback('/bench/computation', OnComputation)
orthanc.RegisterRestCallback('/bench/trivial', OnTrivial)
orthanc.RegisterRestCallback('/bench/slow-peer', OnSlowPeer)
orthanc.RegisterRestCallback('/bench/python', OnPython)

"""The seed's multiprocessing sample (documentation "computation_pool.py"), for the official plugin.

As the documentation prints it (a pool of 4 processes, created at import,
``POOL.apply`` in the callback), except that the loop's outer count (1000 in the
documentation) comes from the query's ``outer`` and is passed to the pool.
"""

# The seed's code as the documentation prints it, for the official plugin.
# ruff: noqa: B007, UP031

import math
import multiprocessing
import signal
import time

import orthanc


# CPU-intensive computation (the seed's loop; only its outer count is a parameter)
def SlowComputation(outer):
    start = time.time()
    for i in range(outer):
        for j in range(30000):
            math.sqrt(float(j))
    end = time.time()
    duration = (end - start)
    return 'computation done in %.03f seconds\n' % duration


# Ignore CTRL+C in the slave processes
def Initializer():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Create a pool of 4 slave Python interpreters
POOL = multiprocessing.Pool(4, initializer=Initializer)


def OnRest(output, uri, **request):
    # Offload the call to "SlowComputation" onto one slave process.
    # The GIL is unlocked until the slave sends its answer back.
    outer = int(request.get('get', {}).get('outer', '1000'))
    answer = POOL.apply(SlowComputation, (outer,))
    output.AnswerBuffer(answer, 'text/plain')


orthanc.RegisterRestCallback('/bench/computation', OnRest)

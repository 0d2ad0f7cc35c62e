"""A CPU benchmark route, for comparing the servers of the department.

``GET /site/benchmark/inline?limit=N`` counts the primes below N (200000 if absent) by
trial division, in the thread that serves the request, and answers the count and the
seconds it took.
"""

import json
import time

import orthanc


def count_primes(limit):
    count = 0
    for candidate in range(2, limit):
        divisor = 2
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count


def benchmark(output, uri, **request):
    limit = int(request["get"].get("limit", "200000"))
    started = time.perf_counter()
    count = count_primes(limit)
    answer = {"limit": limit, "primes": count, "seconds": round(time.perf_counter() - started, 3)}
    output.AnswerBuffer(json.dumps(answer), "application/json")


orthanc.RegisterRestCallback("/site/benchmark/inline", benchmark)

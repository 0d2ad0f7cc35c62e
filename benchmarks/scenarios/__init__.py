"""The scenarios of issues 6 (P1-P7), 17 (P8-P10, real workloads), 14 (P11, the dask
backend), 26 (P12, stored instances; P13, how cost grows) and 29 (P14, two servers on one
PostgreSQL), one module each, run in this order by benchmarks.run.

Each module has ``ID``, ``TITLE``, ``TARGET`` and ``run(context) -> Result``.
Every figure a target is judged on is a ratio or a difference of medians
measured in the same run, with the configurations' repetitions interleaved,
except start-up (P6), which is a duration by nature and is quoted with the
same run's Orthanc-alone start-up beside it.
"""

from __future__ import annotations

from . import (
    autorouting,
    cluster,
    cost_growth,
    cpu_parallelism,
    dask_backend,
    head_of_line,
    large_instance,
    offload_latency,
    overload,
    pydicom_dump,
    startup,
    stored_instances,
    throughput,
    thumbnails,
)

SCENARIOS = [cpu_parallelism, offload_latency, throughput, large_instance, head_of_line, startup,
             overload, thumbnails, pydicom_dump, autorouting, dask_backend,
             stored_instances, cost_growth, cluster]

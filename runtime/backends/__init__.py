"""Where offloaded handlers run: the master's side of ``@offload``.

    registry.invoke --run_route / run_call / submit_event--> executor (the current backend)
        LocalBackend: pool/ (worker processes on this machine)
        DaskBackend:  a Dask cluster (dask_cluster.py, imported only when chosen)
    both run tasks.py's functions in the worker; streams.py carries a streamed
    answer back chunk by chunk.

protocol.py is the one interface a backend implements. Nothing here knows
callbacks, jobs or the ``orthanc`` module.
"""

"""A job written against the SDK's own style (orthanc.CreateJob), for tests/integration/test_jobs_compat.py.

The job counts to ``n``, one count a step of 0.1 s; its state is a small
object whose bound methods are the callbacks. Its content lists the reasons
Orthanc gave each time it stopped it, and how many times it was reset.
"""

import json
import time

import orthanc


class Counter:
    def __init__(self, n: int, done: int = 0) -> None:
        self.n = n
        self.done = done
        self.stops: list[int] = []
        self.resets = 0

    def step(self) -> int:
        time.sleep(0.1)
        self.done += 1
        if self.done >= self.n:
            return orthanc.JobStepStatus.SUCCESS
        return orthanc.JobStepStatus.CONTINUE

    def stop(self, reason: orthanc.JobStopReason) -> None:
        self.stops.append(int(reason))

    def reset(self) -> None:
        self.resets += 1
        self.done = 0

    def make(self) -> orthanc.Job:
        return orthanc.CreateJob(
            "CompatCount", None, lambda: self.done / self.n,
            lambda: {"done": self.done, "stops": self.stops, "resets": self.resets},
            lambda: json.dumps({"n": self.n, "done": self.done}),
            self.step, self.stop, self.reset)


def unserialize(job_type: str, serialized: str):
    if job_type != "CompatCount":
        return None
    data = json.loads(serialized)
    return Counter(data["n"], data["done"]).make()


orthanc.RegisterJobsUnserializer(unserialize)


def submit(output, uri, **request):
    n = int(request["get"].get("n", "10"))
    job_id = orthanc.SubmitJob(Counter(n).make(), int(request["get"].get("priority", "0")))
    output.AnswerBuffer(json.dumps({"ID": job_id}), "application/json")


orthanc.RegisterRestCallback("/compat-jobs/submit", submit)

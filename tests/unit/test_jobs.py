"""@job and the state machine of an inline job, without Orthanc (Orthanc's calls made by hand)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime import JobStep, job, jobs, offload
from runtime.registry import RegistryFrozen


@pytest.fixture(autouse=True)
def declarations_go_to_a_session_of_the_test(session):
    """Each test declares into a fresh session (tests/unit/conftest.py)."""


done: list[int] = []
closed: list[int] = []


def counter(n: int, checkpoint: Any = None) -> Any:
    index = checkpoint or 0
    try:
        for index in range(checkpoint or 0, n):
            done.append(index)
            yield JobStep((index + 1) / n, status={"at": index}, checkpoint=index + 1)
    finally:
        closed.append(index)
    return {"n": n}


def test_job_records_the_type_and_returns_the_function_unchanged(registry):
    assert job("Counter", retries=2)(counter) is counter
    found = registry.job_types["Counter"]
    assert found.handler is counter and found.retries == 2 and found.takes_checkpoint
    assert found.offload is None and not registry.has_offloaded()


def test_an_offloaded_job_type_needs_the_pool(registry):
    def heavy() -> Any:
        yield 0.5

    job("Heavy")(offload(heavy))
    assert registry.job_types["Heavy"].offload is not None and registry.has_offloaded()


def test_a_job_type_is_declared_once_and_before_registration(registry):
    job("Counter")(counter)
    with pytest.raises(ValueError, match="already run by"):
        job("Counter")(lambda: None)
    registry.frozen = True
    with pytest.raises(RegistryFrozen, match="top level"):
        job("Other")(counter)


def test_bad_settings_are_refused_when_declared():
    with pytest.raises(ValueError, match="retries"):
        job("X", retries=-1)
    with pytest.raises(ValueError, match="cancel_grace"):
        job("X", cancel_grace=-1)


def run_steps(instance: jobs.EngineJob, limit: int = 100) -> list[int]:
    results = []
    for _ in range(limit):
        results.append(instance.step())
        if results[-1] != jobs.CONTINUE:
            break
    return results


def test_an_inline_job_steps_once_per_yield_then_succeeds_with_its_output(session, registry):
    done.clear()
    job("Counter")(counter)
    instance = jobs.EngineJob(session.jobs, registry.job_types["Counter"], {"n": 3})
    assert run_steps(instance) == [jobs.CONTINUE] * 3 + [jobs.SUCCESS]
    assert done == [0, 1, 2] and instance.progress() == 1.0
    content = json.loads(instance.content())
    assert content["Output"] == {"n": 3} and content["Status"] == {"at": 2} and content["Steps"] == 3


def test_a_pause_closes_the_generator_and_a_resume_starts_from_the_checkpoint(session, registry):
    done.clear()
    closed.clear()
    job("Counter")(counter)
    instance = jobs.EngineJob(session.jobs, registry.job_types["Counter"], {"n": 4})
    assert instance.step() == jobs.CONTINUE and instance.step() == jobs.CONTINUE
    instance.stop(jobs.STOP_PAUSED)
    assert closed == [1]  # its finally block ran at the pause
    assert json.loads(instance.serialized())["Checkpoint"] == 2
    assert run_steps(instance) == [jobs.CONTINUE] * 2 + [jobs.SUCCESS]
    assert done == [0, 1, 2, 3], "a resume redid or skipped a step"


def test_a_reset_starts_over_and_a_restored_job_resumes_from_its_serialization(session, registry):
    done.clear()
    job("Counter")(counter)
    instance = jobs.EngineJob(session.jobs, registry.job_types["Counter"], {"n": 3})
    instance.step()
    restored = session.jobs.unserialize("Counter", instance.serialized())
    assert restored is not None and restored.key == instance.key and restored.checkpoint == 1
    assert session.jobs.unserialize("SomebodyElse", instance.serialized()) is None
    instance.reset()
    assert instance.checkpoint is None and instance.progress() == 0.0


def test_a_step_that_raises_or_yields_a_wrong_value_fails_the_job_with_its_message(session, registry):
    def broken() -> Any:
        yield "halfway"

    job("Broken")(broken)
    instance = jobs.EngineJob(session.jobs, registry.job_types["Broken"], {})
    assert instance.step() == jobs.FAILURE
    assert "yields None, a number (its progress) or a JobStep, not str" in json.loads(
        instance.content())["Error"]


def test_a_plain_function_is_a_job_of_one_step(session, registry):
    job("Plain")(lambda value: {"twice": 2 * value})
    instance = jobs.EngineJob(session.jobs, registry.job_types["Plain"], {"value": 4})
    assert instance.step() == jobs.SUCCESS
    assert json.loads(instance.content())["Output"] == {"twice": 8}


def test_arguments_must_be_json_values():
    job("Counter")(counter)
    with pytest.raises(TypeError, match="JSON values"):
        jobs.submit("Counter", n={1, 2})


def test_the_jobs_global_property_is_nobody_elses(session):
    from recipes import routing_journal
    from runtime.sdk.properties import PropertyId

    used = {session.jobs.durable._property.id, session.hub.checkpoints._property.id,
            routing_journal.Journal()._property.id}
    assert len(used) == 3
    assert session.jobs.durable._property.id == PropertyId.JOB_CHECKPOINTS
    assert session.jobs.durable._property.id >= 1024  # plugins own the identifiers from 1024 on

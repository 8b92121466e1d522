"""The rq internals the worker and the reaper rely on (``webapp/runs/rq_contract.py``),
checked against the rq installed: each test fails when rq changes what it names."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from webapp.runs import rq_contract as contract
from webapp.runs.worker import AppWorker, ReadyQueue

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def noop() -> str:
    """A job for rq's own worker to run."""
    return "done"


def test_the_rq_installed_is_the_one_pinned():
    assert version("rq") == contract.RQ_VERSION
    assert re.search(rf"^rq=={re.escape(contract.RQ_VERSION)}$", REQUIREMENTS.read_text(), re.M)


@pytest.mark.parametrize("name", sorted(contract.WORKER_METHODS))
def test_each_worker_method_relied_on_takes_the_parameters_relied_on(name):
    parameters = list(inspect.signature(getattr(contract.SimpleWorker, name)).parameters)
    assert parameters[0] == "self"
    assert tuple(parameters[1:]) == contract.WORKER_METHODS[name]


def test_every_rq_method_appworker_overrides_is_named_in_the_contract():
    overridden = {
        name
        for name, member in vars(AppWorker).items()
        if callable(member) and not name.startswith("__") and hasattr(contract.SimpleWorker, name)
    }
    assert overridden <= set(contract.WORKER_METHODS), overridden - set(contract.WORKER_METHODS)


def test_the_worker_and_job_attributes_relied_on_exist(redis_client):
    worker = contract.SimpleWorker([contract.Queue("contract", connection=redis_client)], connection=redis_client)
    assert [name for name in contract.WORKER_ATTRIBUTES if not hasattr(worker, name)] == []
    job = contract.Job.create(noop, connection=redis_client)
    assert [name for name in contract.JOB_ATTRIBUTES if not hasattr(job, name)] == []
    assert worker.queue_class is contract.Queue, "AppWorker swaps in ReadyQueue only for rq's own"


def test_the_redis_keys_relied_on(redis_client):
    queue = contract.Queue("contract", connection=redis_client)
    assert queue.key == "rq:queue:contract"
    assert queue.intermediate_queue_key == "rq:queue:contract:intermediate"
    intermediate = contract.IntermediateQueue(queue.key, connection=redis_client)
    assert intermediate.key == queue.intermediate_queue_key
    assert intermediate.get_first_seen_key("a-job") == "rq:queue:contract:intermediate:first_seen:a-job"
    assert contract.Job.redis_job_namespace_prefix == "rq:job:"
    job = contract.Job.create(noop, id="contract-job", connection=redis_client)
    assert job.key == "rq:job:contract-job"
    assert {job.dependents_key, job.dependencies_key, contract.Result.get_key(job.id)} == {
        "rq:job:contract-job:dependents",
        "rq:job::contract-job:dependencies",  # sic: rq's own key has two colons
        "rq:results:contract-job",
    }


def test_rqs_dequeue_of_one_queue_is_what_the_lua_script_copies(redis_client):
    """rq LMOVEs the job from the queue's list to its intermediate list and reads its hash:
    the script does the same in one round trip, leaving Redis as rq leaves it."""
    assert contract.get_version(redis_client) >= (6, 2, 0), "else rq pops, and the script is not used"
    queue = contract.Queue("contract", connection=redis_client)
    taken = {}
    for name, queue_class in (("rq", contract.Queue), ("ours", ReadyQueue)):
        queue.enqueue(noop, job_id=f"{name}-job")
        job, from_queue = queue_class.dequeue_any([queue], None, connection=redis_client)
        taken[name] = (job.id, job.func_name, from_queue.name)
        assert redis_client.llen(queue.key) == 0
        assert redis_client.lrange(queue.intermediate_queue_key, 0, -1)[-1] == f"{name}-job".encode()
    assert taken["rq"][1:] == taken["ours"][1:]
    assert inspect.signature(contract.Queue.dequeue_any).parameters.keys() == {
        "queues",
        "timeout",
        "connection",
        "job_class",
        "serializer",
        "death_penalty_class",
    }
    assert list(inspect.signature(contract.backend_class).parameters) == ["holder", "default_name", "override"]


def test_rqs_loop_calls_a_jobs_hooks_in_the_order_relied_on(redis_client):
    calls = []

    class Recording(contract.SimpleWorker):
        pass

    for name in contract.CALL_ORDER:

        def recorded(self, *args, _name=name, **kwargs):
            calls.append(_name)
            return getattr(contract.SimpleWorker, _name)(self, *args, **kwargs)

        setattr(Recording, name, recorded)
    queue = contract.Queue("contract", connection=redis_client)
    queue.enqueue(noop, result_ttl=0)
    Recording([queue], connection=redis_client).work(burst=True)
    assert calls[: len(contract.CALL_ORDER)] == list(contract.CALL_ORDER)


def test_the_intermediate_lists_first_seen_mark_is_set_once(redis_client):
    """The reaper times a job stuck in the hand-over from rq's own mark."""
    intermediate = contract.IntermediateQueue(
        contract.Queue("contract", connection=redis_client).key, connection=redis_client
    )
    assert intermediate.set_first_seen("a-job") is True
    first = intermediate.get_first_seen("a-job")
    assert intermediate.set_first_seen("a-job") is False
    assert intermediate.get_first_seen("a-job") == first is not None
    assert redis_client.exists(intermediate.get_first_seen_key("a-job"))


def test_rqs_reconnect_wait_and_warm_shutdown_read_what_the_worker_sets():
    """Read from rq's source: its dequeue loop caps its wait for Redis at the worker's
    ``max_connection_wait_time``, and its warm shutdown waits while ``get_state`` says busy."""
    dequeue = inspect.getsource(contract.SimpleWorker.dequeue_job_and_maintain_ttl)
    assert "self.max_connection_wait_time" in dequeue and "time.sleep(connection_wait_time)" in dequeue
    assert AppWorker.max_connection_wait_time < contract.SimpleWorker.max_connection_wait_time
    shutdown = inspect.getsource(contract.SimpleWorker._shutdown)
    assert "self.get_state() == WorkerStatus.BUSY" in shutdown


def test_the_statuses_and_registration_calls_relied_on():
    assert {
        contract.JobStatus.QUEUED,
        contract.JobStatus.STARTED,
        contract.JobStatus.DEFERRED,
        contract.JobStatus.SCHEDULED,
        contract.JobStatus.FINISHED,
    }
    assert contract.WorkerStatus.BUSY == "busy"
    for call in (contract.worker_registration.register, contract.worker_registration.unregister):
        assert list(inspect.signature(call).parameters) == ["worker", "pipeline"]
    assert list(inspect.signature(contract.Execution).parameters) == ["id", "job_id", "connection", "worker_name"]
    assert list(inspect.signature(contract.Job.get_status).parameters) == ["self", "refresh"]
    assert list(inspect.signature(contract.Job.get_result_ttl).parameters) == ["self", "default_ttl"]
    assert list(inspect.signature(contract.Job.restore).parameters) == ["self", "raw_data"]

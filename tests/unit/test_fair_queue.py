"""The queue's turns and limits, with a runner that only records what ran (no model): round-robin across owners,
each owner's jobs in order, positions as they will run, and quick refusals past the limits; with several workers,
jobs at once, and a job going to the worker that has its checkpoint loaded."""
import threading

from pipelines import Done, Failed, Job, Queued
from pipelines.job_queue import JobQueue, QueueLimits
from pipelines.workers import WorkerState


class FakeWorker:
    def __init__(self, name, model="a.safetensors [1234567890]"):
        self.name, self.model = name, model

    def loaded(self):
        return self.model

    def state(self):
        return WorkerState(self.name, "cpu", self.model)

    def close(self):
        pass


def recording_queue(limits=QueueLimits(), workers=(FakeWorker("local"),), wanted=lambda job: None):
    ran, gate = [], threading.Event()

    def runner(handle, worker):
        gate.wait(30)  # the first job holds the worker until the test has queued the rest
        ran.append((handle.owner, handle.job.prompt, worker.name))
        return Done(images=[], infotexts=[], seeds=[], subseeds=[], info={})
    return JobQueue(runner, lambda job: job, limits, workers, wanted), ran, gate


def started(handle):
    for _ in range(300):
        if handle.running:
            return handle
        threading.Event().wait(0.01)
    raise AssertionError("the job did not start")


def test_one_owners_many_jobs_do_not_starve_anothers():
    queue, ran, gate = recording_queue()
    try:
        handles = [started(queue.submit(Job(prompt="a0"), owner="ann"))]
        handles += [queue.submit(Job(prompt=f"a{i}"), owner="ann") for i in range(1, 6)]
        handles.append(queue.submit(Job(prompt="b0"), owner="bob"))
        handles.append(queue.submit(Job(prompt="a6"), owner="ann"))
        handles.append(queue.submit(Job(prompt="c0"), owner="cat"))
        first_positions = {h.job.prompt: next(e.position for e in iter_until_queued(h)) for h in handles}
        gate.set()
        for handle in handles:
            handle.finished.wait(30)
    finally:
        queue.close()
    assert [p for _, p, _ in ran] == ["a0", "a1", "b0", "c0", "a2", "a3", "a4", "a5", "a6"]
    assert first_positions["b0"] == 2 and first_positions["c0"] == 3  # where they will run: behind a0 and a1
    assert ran.index(("bob", "b0", "local")) < ran.index(("ann", "a2", "local"))  # bob's one job before ann's third


def iter_until_queued(handle):
    while True:
        event = handle.events.get(timeout=30)
        if isinstance(event, Queued):
            yield event
            return


def test_past_the_limits_a_job_is_refused_at_once():
    queue, ran, gate = recording_queue(QueueLimits(per_owner=2, total=3))
    try:
        running = started(queue.submit(Job(prompt="a0"), owner="ann"))
        waiting = [queue.submit(Job(prompt=f"a{i}"), owner="ann") for i in (1, 2)]
        [mine] = list(queue.submit(Job(prompt="a3"), owner="ann"))
        assert isinstance(mine, Failed) and mine.busy == "owner" and "2 jobs waiting" in mine.error
        other = queue.submit(Job(prompt="b0"), owner="bob")
        [full] = list(queue.submit(Job(prompt="c0"), owner="cat"))
        assert isinstance(full, Failed) and full.busy == "server" and "queue is full (3 jobs" in full.error
        gate.set()
        for handle in [running, *waiting, other]:
            assert handle.finished.wait(30) and isinstance(handle.result, Done)
    finally:
        queue.close()


def test_two_workers_run_two_jobs_at_once_and_each_is_told_which():
    queue, ran, gate = recording_queue(workers=(FakeWorker("w1"), FakeWorker("w2")))
    try:
        first, second = queue.submit(Job(prompt="a0"), owner="ann"), queue.submit(Job(prompt="b0"), owner="bob")
        started(first), started(second)  # both running while the gate holds them
        third = queue.submit(Job(prompt="a1"), owner="ann")
        assert next(e.position for e in iter_until_queued(third)) == 2  # behind the two running ones
        overview = queue.overview()
        assert sorted(job["worker"] for job in overview if job["running"]) == ["w1", "w2"]
        assert sorted(s["owner"] for s in queue.worker_states()) == ["ann", "bob"]
        assert {first.progress().worker, second.progress().worker} == {"w1", "w2"}
        gate.set()
        for handle in (first, second, third):
            assert handle.finished.wait(30) and isinstance(handle.result, Done)
    finally:
        queue.close()
    assert sorted(p for _, p, _ in ran) == ["a0", "a1", "b0"]


def test_a_job_goes_to_the_idle_worker_that_has_its_checkpoint_loaded():
    workers = (FakeWorker("w1", "a.safetensors [1234567890]"), FakeWorker("w2", "b.safetensors [abcdef0123]"))
    queue, ran, gate = recording_queue(workers=workers, wanted=lambda job: job.override_settings.get(
        "sd_model_checkpoint") or "a.safetensors [1234567890]")
    gate.set()
    try:
        for k in range(6):  # one at a time, so that both workers are idle each time
            name = "b.safetensors" if k % 2 else "a.safetensors [1234567890]"
            handle = queue.submit(Job(prompt=f"j{k}", override_settings={"sd_model_checkpoint": name}), "ann")
            assert handle.finished.wait(30)
        default = queue.submit(Job(prompt="default"), "ann")
        assert default.finished.wait(30)
    finally:
        queue.close()
    assert [(p, w) for _, p, w in ran] == [("j0", "w1"), ("j1", "w2"), ("j2", "w1"), ("j3", "w2"), ("j4", "w1"),
                                           ("j5", "w2"), ("default", "w1")]

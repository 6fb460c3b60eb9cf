"""The queue's turns and limits, with a runner that only records what ran (no model): round-robin across owners,
each owner's jobs in order, positions as they will run, and quick refusals past the limits."""
import threading

from pipelines import Done, Failed, Job, Queued
from pipelines.job_queue import JobQueue, QueueLimits


def recording_queue(limits=QueueLimits()):
    ran, gate = [], threading.Event()

    def runner(handle):
        gate.wait(30)  # the first job holds the worker until the test has queued the rest
        ran.append((handle.owner, handle.job.prompt))
        return Done(images=[], infotexts=[], seeds=[], subseeds=[], info={})
    return JobQueue(runner, lambda job: job, limits), ran, gate


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
    assert [p for _, p in ran] == ["a0", "a1", "b0", "c0", "a2", "a3", "a4", "a5", "a6"]
    assert first_positions["b0"] == 2 and first_positions["c0"] == 3  # where they will run: behind a0 and a1
    assert ran.index(("bob", "b0")) < ran.index(("ann", "a2"))  # bob's one job before ann's third


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

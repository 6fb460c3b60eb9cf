"""The job queue: jobs submitted by owners (a browser session, an API user, a batch), served round-robin across owners
(one owner's fifty jobs do not starve another's one), each owner's in the order they came, within limits per owner and
in all. Each worker (workers.py: this process's, or a Ray actor's per GPU) has a thread here that takes the next job
when it is idle, so that with several workers several jobs run at once. The queue is the one owner of running jobs:
progress, interrupt and skip are asked of it by owner, and reach only that owner's jobs."""
from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence

from .events import FINAL, Control, Done, Event, Failed, Progress, Queued
from .imageops import ImageInputError
from .job import Job, JobError
from .models import ModelLoadError, free_memory
from .progress import ProgressReport
from .prompts import UnknownStyleError
from .samplers import UnknownSamplerError
from .workers import RemoteFailure, WorkerLost, WorkerState, names_checkpoint

log = logging.getLogger(__name__)
CLIENT_ERRORS = (JobError, ImageInputError, UnknownSamplerError, UnknownStyleError)


@dataclass(frozen=True)
class QueueLimits:
    per_owner: int = 8  # jobs one owner may have waiting (--max-queued-per-user)
    total: int = 64  # jobs waiting in all (--max-queued)


class JobHandle:
    """One submitted job: iterate it for its events (Queued, Progress, Notice, Result, then Done or Failed)."""

    def __init__(self, job: Job, owner: Optional[str] = None, control: Optional[Control] = None):
        self.job, self.owner = job, owner
        self.control = control or Control()
        self.events: "queue.Queue[Event]" = queue.Queue()
        self.finished = threading.Event()
        self.result: Optional[Event] = None  # the closing Done or Failed
        self.report = ProgressReport(started=time.time(), job_count=job.n_iter)
        self.running = False
        self.worker = ""  # the name of the worker that runs it

    def emit(self, event: Event) -> None:
        if isinstance(event, Queued):
            self.report.position = event.position
        elif isinstance(event, Progress):
            report = self.report
            report.position, report.step, report.steps = 0, event.step, event.steps
            report.job_no, report.job_count = event.job_no, event.job_count
            report.preview = event.preview if event.preview is not None else report.preview
        self.events.put(event)
        if isinstance(event, FINAL):
            self.result = event
            self.finished.set()

    def progress(self) -> ProgressReport:
        self.report.interrupted = self.control.interrupted.is_set()
        self.report.skipped = self.control.skipped.is_set()
        return self.report

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.events.get()
            yield event
            if isinstance(event, FINAL):
                return


class JobQueue:
    """Runs each job with `runner(handle, worker) -> Done` on the thread of an idle worker; `prepare(job)` checks a
    job (and applies its styles) when it is submitted, so that a bad job fails at once. `wanted(job)` names the
    checkpoint a job runs on: an idle worker that has it loaded takes the job before one that would load it."""

    def __init__(self, runner: Callable[[JobHandle, object], Done], prepare: Callable[[Job], Job],
                 limits: QueueLimits = QueueLimits(), workers: Sequence = (),
                 wanted: Callable[[Job], Optional[str]] = lambda job: None):
        self.runner, self.prepare, self.limits, self.wanted = runner, prepare, limits, wanted
        self.workers = list(workers)
        self._waiting: Dict[Optional[str], Deque[JobHandle]] = {}  # per owner, in the order they came
        self._turns: Deque[Optional[str]] = collections.deque()  # owners with waiting jobs, the next one first
        self._live: Dict[Optional[str], List[JobHandle]] = {}  # owner -> handles waiting or running
        self._lock = threading.Condition()
        self._running: Dict[object, JobHandle] = {}  # worker -> the job it runs
        self._closed = False
        self._threads = [threading.Thread(target=self._work, args=(worker,), name=f"job-worker-{worker.name}",
                                          daemon=True) for worker in self.workers]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job, owner: Optional[str] = None, control: Optional[Control] = None) -> JobHandle:
        """Queue a job; a job that cannot run fails at once, without waiting. Jobs sharing a `control` (a batch's)
        are interrupted together."""
        try:
            job = self.prepare(job)
        except CLIENT_ERRORS as e:
            handle = JobHandle(job, owner, control)
            handle.emit(Failed(str(e), invalid=True))
            return handle
        handle = JobHandle(job, owner, control)
        with self._lock:
            refusal = self._refusal(owner)
            if refusal is not None:
                handle.emit(refusal)
                return handle
            if owner not in self._waiting:
                self._waiting[owner] = collections.deque()
                self._turns.append(owner)
            self._waiting[owner].append(handle)
            self._live.setdefault(owner, []).append(handle)
            ahead = self._positions()[handle]
            self._lock.notify_all()
        handle.emit(Queued(ahead))
        return handle

    def _refusal(self, owner: Optional[str]) -> Optional[Failed]:
        if self._closed:
            return Failed("the server is shutting down")
        mine = len(self._waiting.get(owner, ()))
        if mine >= self.limits.per_owner:
            return Failed(f"you have {mine} jobs waiting, the most one user may queue; wait for them to finish",
                          busy="owner")
        if sum(len(q) for q in self._waiting.values()) >= self.limits.total:
            return Failed(f"the server's queue is full ({self.limits.total} jobs waiting); try again later",
                          busy="server")
        return None

    def _positions(self) -> Dict[JobHandle, int]:
        """Each waiting job's number of jobs ahead of it: round by round, the next job of each owner in turn."""
        queues = [list(self._waiting[owner]) for owner in self._turns]
        order = [q[k] for k in range(max(map(len, queues), default=0)) for q in queues if k < len(q)]
        return {handle: len(self._running) + i for i, handle in enumerate(order)}

    def _take(self, worker) -> Optional[JobHandle]:
        """The job whose turn it is, for this worker; its owner goes to the back of the round. None while nothing
        waits, or while another idle worker has that job's checkpoint loaded and this one has not: that one takes
        it."""
        if not self._turns:
            return None
        wanted = self.wanted(self._waiting[self._turns[0]][0].job)
        if wanted and not names_checkpoint(wanted, worker.loaded()) and any(
                other is not worker and other not in self._running and names_checkpoint(wanted, other.loaded())
                for other in self.workers):
            return None
        owner = self._turns.popleft()
        handle = self._waiting[owner].popleft()
        if self._waiting[owner]:
            self._turns.append(owner)
        else:
            del self._waiting[owner]
        return handle

    def run(self, job: Job, owner: Optional[str] = None) -> Iterator[Event]:
        """Submit a job and yield its events until it ends."""
        yield from self.submit(job, owner)

    # -- per owner -----------------------------------------------------------------------------------------------------

    def handles(self, owner: Optional[str]) -> List[JobHandle]:
        """The owner's jobs that wait or run, the running one first."""
        with self._lock:
            return sorted(self._live.get(owner, []), key=lambda h: not h.running)

    def overview(self) -> List[dict]:
        """Every job waiting or running, the running one first, as an admin sees the queue (no prompts or
        pictures: who, where, how far)."""
        with self._lock:
            positions = self._positions()
            handles = list(self._running.values()) + sorted(positions, key=positions.get)
        return [{"owner": h.owner, "running": h.running, "position": 0 if h.running else positions.get(h, 0),
                 "step": h.report.step, "steps": h.report.steps, "worker": h.worker} for h in handles]

    def worker_states(self) -> List[dict]:
        """Each worker as an admin sees it: its device, loaded model, and whose job it runs (and how far)."""
        states = []
        for worker in self.workers:
            state: WorkerState = worker.state()
            handle = self._running.get(worker)
            states.append({"name": state.name, "device": state.device, "model": state.model, "where": state.where,
                           "owner": handle.owner if handle else None,
                           "step": handle.report.step if handle else 0, "steps": handle.report.steps if handle else 0})
        return states

    def progress(self, owner: Optional[str]) -> Optional[ProgressReport]:
        handles = self.handles(owner)
        return handles[0].progress() if handles else None

    def interrupt(self, owner: Optional[str]) -> None:
        """Stop the owner's jobs: the running one within a step, the waiting ones before they start."""
        for handle in self.handles(owner):
            handle.control.interrupted.set()

    def skip(self, owner: Optional[str]) -> None:
        """End the batch of pictures the owner's running job is making; the job goes on with its next batch."""
        for handle in self.handles(owner):
            if handle.running:
                handle.control.skipped.set()

    # -- the worker ----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiting = [handle for queue in self._waiting.values() for handle in queue]
            self._waiting.clear()
            self._turns.clear()
            self._lock.notify_all()
        for handle in waiting:
            self._finish(handle, Failed("the server is shutting down"))
        with self._lock:
            running = list(self._running.values())
        for handle in running:
            handle.control.interrupted.set()
        for thread in self._threads:
            thread.join(timeout=30)
        for worker in self.workers:
            worker.close()

    def _work(self, worker) -> None:
        while True:
            with self._lock:
                handle = None
                while not self._closed and (handle := self._take(worker)) is None:
                    self._lock.wait()
                if handle is None:
                    return
                self._running[worker] = handle
                handle.running, handle.worker = True, worker.name
                handle.report.started, handle.report.worker = time.time(), worker.name
                for waiting, position in self._positions().items():
                    waiting.emit(Queued(position))
            try:
                self._finish(handle, self._run_one(handle, worker))
            finally:
                with self._lock:
                    del self._running[worker]
                    self._lock.notify_all()  # a job held back for this worker's checkpoint may go elsewhere now

    def _run_one(self, handle: JobHandle, worker) -> Event:
        """The job's Done, or a Failed that says why (a bad job is the client's error, anything else the run's)."""
        if handle.control.interrupted.is_set():
            # as A1111 answers an interrupted job: done, with no pictures
            return Done(images=[], infotexts=[], seeds=[], subseeds=[], info={"infotexts": []}, interrupted=True)
        try:
            return self.runner(handle, worker)
        except Exception as e:  # the worker must survive anything a job does
            return failure_of(e)

    def _finish(self, handle: JobHandle, event: Event) -> None:
        with self._lock:
            owned = self._live.get(handle.owner, [])
            if handle in owned:
                owned.remove(handle)
            if not owned:
                self._live.pop(handle.owner, None)
        handle.emit(event)


def failure_of(error: Exception) -> Failed:
    """The Failed event a job's exception ends it with: a bad job is the client's error, anything else the run's
    (logged, and its memory given back). Called in an `except` block."""
    if isinstance(error, CLIENT_ERRORS):
        return Failed(str(error), invalid=True)
    if isinstance(error, RemoteFailure):
        return error.failed
    if isinstance(error, (ModelLoadError, WorkerLost)):
        return Failed(str(error))
    log.error("job failed:\n%s", traceback.format_exc())
    free_memory()
    return Failed(describe_failure(error))


def describe_failure(error: Exception) -> str:
    if "out of memory" in str(error).lower():
        return ("out of memory: try a smaller size or batch, 'Only masked' inpainting, or --medvram / --lowvram "
                f"({error.__class__.__name__})")
    return f"{error.__class__.__name__}: {error}"

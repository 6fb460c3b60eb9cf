"""The job queue: jobs submitted by owners (a browser session, an API user, a batch), run one at a time on a worker
thread, served round-robin across owners (one owner's fifty jobs do not starve another's one), each owner's in the
order they came, within limits per owner and in all. The queue is the one owner of running jobs: progress, interrupt
and skip are asked of it by owner, and reach only that owner's jobs."""
from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterator, List, Optional

from .events import FINAL, Control, Done, Event, Failed, Progress, Queued
from .imageops import ImageInputError
from .job import Job, JobError
from .models import ModelLoadError, free_memory
from .progress import ProgressReport
from .prompts import UnknownStyleError
from .samplers import UnknownSamplerError

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
    """Runs each job with `runner(handle) -> Done` on one worker thread; `prepare(job)` checks a job (and applies
    its styles) when it is submitted, so that a bad job fails at once."""

    def __init__(self, runner: Callable[[JobHandle], Done], prepare: Callable[[Job], Job],
                 limits: QueueLimits = QueueLimits()):
        self.runner, self.prepare, self.limits = runner, prepare, limits
        self._waiting: Dict[Optional[str], Deque[JobHandle]] = {}  # per owner, in the order they came
        self._turns: Deque[Optional[str]] = collections.deque()  # owners with waiting jobs, the next one first
        self._live: Dict[Optional[str], List[JobHandle]] = {}  # owner -> handles waiting or running
        self._lock = threading.Condition()
        self._current: Optional[JobHandle] = None
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="job-worker", daemon=True)
        self._worker.start()

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
            self._lock.notify()
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
        running = 1 if self._current is not None else 0
        return {handle: running + i for i, handle in enumerate(order)}

    def _next(self) -> JobHandle:
        """The job whose turn it is; its owner goes to the back of the round."""
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
            handles = ([self._current] if self._current is not None else []) + sorted(positions, key=positions.get)
        return [{"owner": h.owner, "running": h.running, "position": 0 if h.running else positions.get(h, 0),
                 "step": h.report.step, "steps": h.report.steps} for h in handles]

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
        if self._current is not None:
            self._current.control.interrupted.set()
        self._worker.join(timeout=30)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                handle = self._current = self._next()
                handle.running = True
                handle.report.started = time.time()
                for waiting, position in self._positions().items():
                    waiting.emit(Queued(position))
            try:
                self._finish(handle, self._run_one(handle))
            finally:
                with self._lock:
                    self._current = None

    def _run_one(self, handle: JobHandle) -> Event:
        """The job's Done, or a Failed that says why (a bad job is the client's error, anything else the run's)."""
        if handle.control.interrupted.is_set():
            # as A1111 answers an interrupted job: done, with no pictures
            return Done(images=[], infotexts=[], seeds=[], subseeds=[], info={"infotexts": []}, interrupted=True)
        try:
            return self.runner(handle)
        except CLIENT_ERRORS as e:
            return Failed(str(e), invalid=True)
        except ModelLoadError as e:
            return Failed(str(e))
        except Exception as e:  # the worker must survive anything a job does
            log.error("job failed:\n%s", traceback.format_exc())
            free_memory()
            return Failed(describe_failure(e))

    def _finish(self, handle: JobHandle, event: Event) -> None:
        with self._lock:
            owned = self._live.get(handle.owner, [])
            if handle in owned:
                owned.remove(handle)
            if not owned:
                self._live.pop(handle.owner, None)
        handle.emit(event)


def describe_failure(error: Exception) -> str:
    if "out of memory" in str(error).lower():
        return ("out of memory: try a smaller size or batch, 'Only masked' inpainting, or --medvram / --lowvram "
                f"({error.__class__.__name__})")
    return f"{error.__class__.__name__}: {error}"

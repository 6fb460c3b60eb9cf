"""How far a job is, and when it will end: the one place the fraction and ETA are worked out, for the page, the API
and the console alike."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from PIL import Image


def fraction_done(job_no: int, job_count: int, step: int, steps: int) -> float:
    """The part of a job done after `step` of `steps` in its batch `job_no` of `job_count`."""
    return (job_no + (step / steps if steps else 0)) / max(job_count, 1)


def eta_seconds(elapsed: float, fraction: float) -> float:
    """Seconds left, at the pace so far."""
    return elapsed / fraction - elapsed if fraction > 0 else 0.0


@dataclass
class ProgressReport:
    """One job's progress as its owner sees it."""
    started: float  # time.time() when it started running (or was submitted, while it waits)
    position: int = 0  # jobs ahead of it while it waits
    step: int = 0
    steps: int = 0
    job_no: int = 0
    job_count: int = 1
    preview: Optional[Image.Image] = None
    interrupted: bool = False
    skipped: bool = False
    worker: str = ""  # which worker runs it (with several: "local", "ray-1", ...)

    @property
    def fraction(self) -> float:
        return fraction_done(self.job_no, self.job_count, self.step, self.steps)

    @property
    def eta(self) -> float:
        return eta_seconds(time.time() - self.started, self.fraction)


def batch_fraction(index: int, total: int, report: ProgressReport) -> float:
    """Progress through `total` jobs run one after another, the `index`-th of them now at `report`."""
    return (index + report.fraction) / max(total, 1)

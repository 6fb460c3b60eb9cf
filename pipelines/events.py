"""What passes between a running job and its owner: the events it tells, in order (Queued, then Notice / Progress /
Result, then Done or Failed), and the Control the owner stops it with."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from PIL import Image


@dataclass
class Control:
    """How the owner stops a running job: interrupt ends the job, skip ends the current batch of pictures."""
    interrupted: threading.Event = field(default_factory=threading.Event)
    skipped: threading.Event = field(default_factory=threading.Event)


@dataclass
class Queued:
    position: int  # jobs ahead of this one


@dataclass
class Notice:
    message: str


@dataclass
class Progress:
    step: int  # steps done in the current image batch
    steps: int  # steps that batch runs
    job_no: int  # which of the n_iter batches (0-based)
    job_count: int
    preview: Optional[Image.Image] = None


@dataclass
class Result:
    image: Image.Image
    infotext: str
    seed: int
    index: int  # position among the job's images
    path: Optional[str] = None


@dataclass
class Failed:
    error: str
    invalid: bool = False  # the job itself was bad (a client error), not the run
    busy: str = ""  # refused for the queue's limits: "owner" (theirs is full) or "server" (the whole queue is)


@dataclass
class Done:
    """The job's end: every image with its infotext, A1111's `info` fields, and whether it was interrupted."""
    images: List[Image.Image]
    infotexts: List[str]
    seeds: List[int]
    subseeds: List[int]
    info: Dict[str, Any]
    interrupted: bool = False
    grid: Optional[Image.Image] = None  # with more than one picture, as A1111 returns it
    grid_path: Optional[str] = None


Event = Union[Queued, Notice, Progress, Result, Done, Failed]
FINAL = (Done, Failed)

"""Mode 5, Batch: a folder of pictures (and of masks) -> one Job per picture, run unattended (reference section 4).

Beyond A1111: the input folder is read recursively and its tree mirrored in the output folder with the original file
names (no number prefix); a rerun skips what is done; unreadable files are skipped with their reason and listed in a
summary; the next pictures are read while the model works and finished ones are saved on another thread; folders
typed into the browser or sent over HTTP are confined to allowed roots.
"""
from __future__ import annotations

import concurrent.futures
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from pipelines import Control, Done, Failed, ImageInputError, Job, JobError, Progress, Result, load_image
from pipelines.saving import write_png

from .batch_png_info import png_info_params

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


class BatchPathError(ValueError):
    """A folder that may not be used; the message says which and why."""


def natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.as_posix())]


def confine(path: str, roots: Sequence[str], what: str) -> Path:
    """`path` with links resolved, if it lies inside one of `roots`; else a BatchPathError."""
    if not path or not str(path).strip():
        raise BatchPathError(f"{what} is empty")
    real = Path(path).expanduser().resolve()
    for root in roots:
        root_real = Path(root).expanduser().resolve()
        if real == root_real or root_real in real.parents:
            return real
    raise BatchPathError(f"{what} {path!r} is outside the allowed folders ({', '.join(map(str, roots))})")


def list_images(input_dir: Path, exclude: Optional[Path] = None) -> List[Path]:
    """Picture files under `input_dir`, recursively, hidden files and folders skipped, in natural order, as paths
    relative to `input_dir`. `exclude` (an output folder inside the input) is not read."""
    found = []
    for root, dirs, files in os.walk(input_dir, followlinks=True):
        root_path = Path(root)
        dirs[:] = [d for d in dirs if not d.startswith(".") and (exclude is None or
                                                                 (root_path / d).resolve() != exclude)]
        for name in files:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append((root_path / name).relative_to(input_dir))
    return sorted(found, key=natural_key)


def inside(path: Path, real_root: Path) -> bool:
    """Whether `path`, links resolved, lies in the (resolved) folder."""
    real = path.resolve()
    return real == real_root or real_root in real.parents


@dataclass
class BatchSettings:
    input_dir: str = ""
    files: Sequence[str] = ()  # uploaded pictures instead of a folder: processed as they are, saved as usual
    output_dir: str = ""  # empty: the usual outputs/img2img-images/<date>/ naming
    mask_dir: str = ""
    png_info: bool = False  # take parameters from each picture's own infotext
    png_info_dir: str = ""  # ... or from a file of the same name here
    png_info_fields: Sequence[str] = ()
    resume: bool = True  # skip pictures whose outputs all exist
    roots: Optional[Sequence[str]] = None  # confine every folder (and file) to these; None: no confinement


@dataclass
class BatchItem:
    source: Path
    rel: Path
    mask: Optional[Path] = None
    outputs: List[Path] = field(default_factory=list)


# -- events ----------------------------------------------------------------------------------------------------------

@dataclass
class FileStarted:
    index: int
    total: int
    rel: str


@dataclass
class FileProgress:
    index: int
    total: int
    rel: str
    progress: Progress


@dataclass
class FileResult:
    index: int
    rel: str
    result: Result
    path: Optional[str]


@dataclass
class FileSkipped:
    rel: str
    reason: str


@dataclass
class FileFailed:
    rel: str
    reason: str


@dataclass
class BatchSummary:
    done: List[str]
    skipped: Dict[str, str]
    failed: Dict[str, str]
    interrupted: bool

    def text(self) -> str:
        lines = [f"Batch {'interrupted' if self.interrupted else 'finished'}: {len(self.done)} done, "
                 f"{len(self.skipped)} skipped, {len(self.failed)} failed."]
        lines += [f"  skipped {rel}: {why}" for rel, why in self.skipped.items()]
        lines += [f"  failed {rel}: {why}" for rel, why in self.failed.items()]
        return "\n".join(lines)


# -- planning --------------------------------------------------------------------------------------------------------

class BatchPlan:
    """Which pictures to process, with their masks and output names; what to skip, and why."""

    def __init__(self, settings: BatchSettings, images_per_file: int):
        self.items: List[BatchItem] = []
        self.skipped: Dict[str, str] = {}
        self.shared_mask = False
        if settings.files:
            self.input_dir = self.output_dir = self.mask_dir = self.png_info_dir = None
            self.items = [BatchItem(source=Path(f), rel=Path(Path(f).name)) for f in settings.files]
            return
        roots = settings.roots
        check = (lambda p, what: confine(p, roots, what)) if roots is not None else \
            (lambda p, what: Path(p).expanduser().resolve())
        self.input_dir = check(settings.input_dir, "input folder")
        if not self.input_dir.is_dir():
            raise BatchPathError(f"input folder {settings.input_dir!r} is not a folder")
        self.output_dir = check(settings.output_dir, "output folder") if settings.output_dir else None
        self.mask_dir = check(settings.mask_dir, "mask folder") if settings.mask_dir else None
        self.png_info_dir = check(settings.png_info_dir, "PNG info folder") if settings.png_info_dir else None
        if self.mask_dir is not None and not self.mask_dir.is_dir():
            raise BatchPathError(f"mask folder {settings.mask_dir!r} is not a folder")
        if self.output_dir is not None and self.output_dir == self.input_dir:
            raise BatchPathError("the output folder is the input folder: outputs would overwrite the inputs")
        mask_files = sorted((p for p in self.mask_dir.iterdir() if p.is_file() and not p.name.startswith(".")),
                            key=natural_key) if self.mask_dir else []
        self.shared_mask = len(mask_files) == 1
        for rel in list_images(self.input_dir, exclude=self.output_dir):
            source = self.input_dir / rel
            if roots is not None:
                try:
                    confine(str(source), roots, "input file")
                except BatchPathError:
                    self.skipped[rel.as_posix()] = "a link that leads outside the allowed folders"
                    continue
            item = BatchItem(source=source, rel=rel, outputs=self.output_names(rel, images_per_file))
            if self.mask_dir is not None:
                item.mask = self.find_mask(rel, mask_files)
                if item.mask is None:
                    self.skipped[rel.as_posix()] = f"mask is not found in {self.mask_dir}"
                    continue
            if settings.resume and item.outputs and all(p.exists() for p in item.outputs):
                self.skipped[rel.as_posix()] = "already done (its outputs exist)"
                continue
            self.items.append(item)

    def output_names(self, rel: Path, images_per_file: int) -> List[Path]:
        if self.output_dir is None:
            return []
        folder = self.output_dir / rel.parent
        if images_per_file == 1:
            return [folder / f"{rel.stem}.png"]
        return [folder / f"{rel.stem}-{k}.png" for k in range(1, images_per_file + 1)]

    def find_mask(self, rel: Path, mask_files: List[Path]) -> Optional[Path]:
        """One mask file for every picture, else the mask with the picture's stem (beside the mirrored path first)."""
        if len(mask_files) == 1:
            return mask_files[0]
        for folder in (self.mask_dir / rel.parent, self.mask_dir):
            matches = sorted((p for p in folder.glob(f"{glob_escape(rel.stem)}.*") if p.is_file()), key=natural_key)
            if matches:
                return matches[0]
        return None


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


# -- running ---------------------------------------------------------------------------------------------------------

class BatchRun:
    """Runs a plan through the job queue: yields events as files start, progress, finish, are skipped or fail, then a
    BatchSummary. Its jobs share one Control: the owner's interrupt (or `interrupt()`) stops the batch within a step
    and keeps what is saved; the owner's skip ends the current picture and the batch goes on with the next."""

    def __init__(self, services, settings: BatchSettings, params: dict, owner: Optional[str] = None,
                 read_ahead: int = 2):
        self.services, self.settings, self.owner = services, settings, owner
        self.params = dict(params)
        images_per_file = int(self.params.get("n_iter", 1)) * int(self.params.get("batch_size", 1))
        self.plan = BatchPlan(settings, images_per_file)
        self.read_ahead = read_ahead
        self.control = Control()

    def interrupt(self) -> None:
        self.control.interrupted.set()

    def make_job(self, item: BatchItem):
        """(the picture's Job, the model hash its PNG info asks for); "Resize by" follows each picture's size."""
        image = load_image(str(item.source), f"{item.rel.as_posix()}")
        mask = load_image(str(item.mask), f"mask {item.mask.name}") if item.mask is not None else None
        if mask is not None and self.plan.shared_mask and mask.size != image.size:
            mask = mask.resize(image.size)  # one mask for pictures of every size: stretched to each
        params = self.params
        if self.settings.png_info:
            params = png_info_params(image, self.plan.png_info_dir / item.rel if self.plan.png_info_dir else None,
                                     self.settings.png_info_fields, params)
        params = dict(params)
        model_hash = params.pop("_model_hash", None)
        job = Job(init_images=[image], mask=mask, do_not_save_samples=self.plan.output_dir is not None, **params)
        job.validate()
        return job, model_hash

    def _prepared(self) -> Iterator:
        """(item, job or error) in order, read on a thread ahead of the model."""
        ready: "queue.Queue" = queue.Queue(maxsize=self.read_ahead)
        stop = threading.Event()  # the consumer is gone: interrupted, or its generator closed

        def put(entry) -> bool:
            while not stop.is_set():
                try:
                    ready.put(entry, timeout=0.2)
                    return True
                except queue.Full:
                    pass
            return False

        def read():
            for item in self.plan.items:
                try:
                    entry = (item, self.make_job(item))
                except (ImageInputError, JobError, OSError) as e:
                    entry = (item, e)
                if not put(entry):
                    return
            put(None)

        threading.Thread(target=read, name="batch-reader", daemon=True).start()
        try:
            while (entry := ready.get()) is not None and not self.control.interrupted.is_set():
                yield entry
        finally:
            stop.set()

    def __iter__(self) -> Iterator[object]:
        """With several workers, as many pictures run at once (their events interleave); the outputs, their names
        and the summary are the same as one at a time."""
        tally = BatchSummary(done=[], skipped=dict(self.plan.skipped), failed={}, interrupted=False)
        for rel, reason in self.plan.skipped.items():
            yield FileSkipped(rel, reason)
        total, at_once = len(self.plan.items), max(1, len(self.services.queue.workers))
        events: "queue.Queue" = queue.Queue()  # (the file's run, its event) from every file that runs
        running: Dict[int, FileRun] = {}
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch-writer") as writer:
            for index, (item, job) in enumerate(self._prepared()):
                rel = item.rel.as_posix()
                if isinstance(job, Exception):
                    tally.skipped[rel] = str(job)
                    yield FileSkipped(rel, str(job))
                    continue
                job, model_hash = job
                while running and (len(running) >= at_once or model_hash):  # a model switch waits for the others
                    yield from self.next_event(events, running, tally)
                if model_hash:
                    self.services.models.load_by_hash(model_hash)
                run = running[index] = FileRun(FileStarted(index, total, rel), item, job, writer,
                                               self.plan.output_dir)
                yield run.started
                handle = self.services.queue.submit(job, self.owner, self.control)
                threading.Thread(target=pump, args=(handle, run, events), daemon=True, name="batch-events").start()
            while running:
                yield from self.next_event(events, running, tally)
        tally.interrupted = self.control.interrupted.is_set()
        yield tally

    @staticmethod
    def next_event(events: "queue.Queue", running: Dict[int, "FileRun"], tally: BatchSummary) -> Iterator:
        run, event = events.get()
        yield from run.on(event)
        if isinstance(event, (Done, Failed)):
            del running[run.started.index]
            yield from run.end(tally)


def pump(handle, run: "FileRun", events: "queue.Queue") -> None:
    for event in handle:
        events.put((run, event))


class FileRun:
    """One picture's job: its progress and results as batch events, its outputs written on the writer thread, its
    outcome in the summary."""

    def __init__(self, started: FileStarted, item: BatchItem, job: Job, writer, output_dir: Optional[Path]):
        self.started, self.item, self.job, self.writer, self.output_dir = started, item, job, writer, output_dir
        self.saves: List[concurrent.futures.Future] = []
        self.outcome: Optional[object] = None
        self.finished = False

    def on(self, event) -> Iterator:
        rel, index = self.started.rel, self.started.index
        if isinstance(event, Progress):
            yield FileProgress(index, self.started.total, rel, event)
        elif isinstance(event, Result):
            path = output_path(self.item, event.index)
            if path is not None:
                self.saves.append(self.writer.submit(save_output, event.image, path, event.infotext, self.output_dir))
            yield FileResult(index, rel, event, str(path) if path else event.path)
        elif isinstance(event, Failed):
            self.outcome = FileFailed(rel, event.error)
        elif isinstance(event, Done) and not event.interrupted:
            self.finished = True
            if len(event.images) < self.job.n_iter * max(self.job.batch_size, len(self.job.init_images)):
                self.outcome = FileSkipped(rel, "skipped: Skip was pressed")

    def end(self, tally: BatchSummary) -> Iterator:
        rel = self.started.rel
        errors = [f.exception() for f in self.saves if f.exception() is not None]
        if errors and self.outcome is None:
            self.outcome = FileFailed(rel, f"could not save: {errors[0]}")
        if isinstance(self.outcome, FileFailed):
            tally.failed[rel] = self.outcome.reason
        elif isinstance(self.outcome, FileSkipped):
            tally.skipped[rel] = self.outcome.reason
        elif self.finished:
            tally.done.append(rel)
        if self.outcome is not None:
            yield self.outcome


def output_path(item: BatchItem, index: int) -> Optional[Path]:
    """Where a picture's `index`-th result goes: its planned name, then (a script's further pictures and grids)
    `<stem>-<n>.png` beside it."""
    if not item.outputs:
        return None
    if index < len(item.outputs):
        return item.outputs[index]
    return item.outputs[0].parent / f"{item.rel.stem}-{index + 1}.png"


def save_output(image, path: Path, infotext: str, root: Path) -> None:
    """Write one output; a sub-folder that links out of the output folder is refused before anything is made."""
    if not inside(path.parent, root.resolve()):
        raise BatchPathError(f"{path.parent} leads outside the output folder {root}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(image, path, infotext)

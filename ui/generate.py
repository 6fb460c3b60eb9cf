"""Generate: a tab's inputs -> Job(s) on the queue, streamed back as the gallery, a progress line with a bar and ETA,
the live preview and the infotext. The queue owns the running jobs: interrupt and skip are asked of it for this
browser session."""
from __future__ import annotations

import html
import time
from typing import List, Optional, Sequence

import gradio as gr

from modes.batch import (BatchPathError, BatchRun, BatchSettings, BatchSummary, FileFailed, FileProgress, FileResult,
                         FileSkipped)
from pipelines import Done, Failed, JobError, Notice, Progress, Queued, Result, Services
from pipelines.progress import batch_fraction, eta_seconds

from .controls import job_params
from .queue_tab import caller
from .scripts import alwayson_params, script_params
from .tabs import MODE_TABS, make_job, require


def progress_html(text: str, step: float = 0, steps: float = 0) -> str:
    bar = f'<progress value="{step}" max="{steps}"></progress>' if steps else ""
    return f'<div class="progress-line">{bar}<span>{html.escape(text)}</span></div>'


def shown(gallery: list, status, preview, info: str, infotexts: List[str], running: bool = True) -> tuple:
    """The outputs, as plain values for gradio_client callers too: the live preview only while the job runs."""
    return gallery, status, preview if running else None, info, infotexts


class Generation:
    """Yields (gallery, progress html, preview, infotext, infotexts) as a job or a batch goes."""

    def __init__(self, services: Services, batch_roots: Sequence[str] = (), hide_dir_config: bool = False):
        self.services, self.batch_roots, self.hide_dir_config = services, list(batch_roots), hide_dir_config

    def generate(self, mode: int, values: dict, request: Optional[gr.Request]):
        owner = caller(request)[0]
        tab = MODE_TABS[int(mode)]
        params = dict(job_params(values), **script_params(values), **alwayson_params(values))
        if tab.canvas == "batch":
            yield from self.batch(values, params, owner)
        else:
            yield from self.single(make_job(tab, values, params), owner)

    def interrupt(self, request: gr.Request) -> None:
        self.services.queue.interrupt(caller(request)[0])

    def skip(self, request: gr.Request) -> None:
        self.services.queue.skip(caller(request)[0])

    def single(self, job, owner: Optional[str]):
        handle = self.services.queue.submit(job, owner)
        try:
            yield from self.stream(handle)
        finally:  # the page closed, or its request was cancelled: the job stops too
            if not handle.finished.is_set():
                handle.control.interrupted.set()

    def stream(self, handle):
        gallery, infotexts, preview, info = [], [], None, ""
        several = len(self.services.queue.workers) > 1  # then each line says which worker runs the job
        for event in handle:
            status = None
            where = f" on {handle.worker}" if several and handle.worker else ""
            if isinstance(event, Queued):
                status = progress_html(f"Waiting: {event.position} job(s) ahead of yours")
            elif isinstance(event, Progress):
                r = handle.progress()
                batch = f" (batch {r.job_no + 1}/{r.job_count})" if r.job_count > 1 else ""
                status = progress_html(f"Step {r.step}/{r.steps}{batch}{where}, ETA {r.eta:.0f} s",
                                       r.job_no * r.steps + r.step, r.job_count * r.steps)
                preview = r.preview
            elif isinstance(event, Result):
                gallery.append((event.image, f"Seed {event.seed}"))
                infotexts.append(event.infotext)
                info = event.infotext
            elif isinstance(event, Notice):
                gr.Info(event.message)
                continue
            elif isinstance(event, Failed):
                raise gr.Error(event.error)
            elif isinstance(event, Done):
                took = time.time() - handle.report.started
                status = progress_html(f"{'Interrupted' if event.interrupted else 'Done'} in {took:.1f} s{where}: "
                                       f"{len(event.images)} picture(s)")
            yield shown(gallery, status, preview, info, infotexts, running=not isinstance(event, Done))

    def batch(self, v: dict, params: dict, owner: Optional[str]):
        """Uploaded pictures, or "From directory" (when its tab is selected, or for API callers, who have no tabs, a
        folder and no files): folders confined to the allowed roots, results streamed up to the setting's limit,
        skipped and failed files listed with their reasons at the end."""
        from_dir = v["batch_from_dir"] or (v["batch_input_dir"] and not v["batch_files"])
        if from_dir and self.hide_dir_config:
            raise gr.Error("Folder batch is disabled on this server (--hide-ui-dir-config).")
        if from_dir:
            settings = BatchSettings(input_dir=v["batch_input_dir"], output_dir=v["batch_output_dir"],
                                     mask_dir=v["batch_mask_dir"], png_info=bool(v["batch_png_info"]),
                                     png_info_dir=v["batch_png_info_dir"] if v["batch_png_info"] else "",
                                     png_info_fields=v["batch_png_info_fields"] or [],
                                     resume=bool(v["batch_resume"]), roots=self.batch_roots)
        else:
            settings = BatchSettings(files=require(v["batch_files"], "Add pictures on the Batch tab first."))
        try:
            run = BatchRun(self.services, settings, params, owner)
        except (BatchPathError, JobError) as e:
            raise gr.Error(str(e)) from None
        finished = False
        try:
            for shown_now in self.stream_batch(run):
                yield shown_now
            finished = True
        finally:  # the page went away mid-batch: the batch stops
            if not finished:
                run.interrupt()

    def stream_batch(self, run: BatchRun):
        limit = int(self.services.settings.get("img2img_batch_show_results_limit", 32))
        gallery: List = []
        infotexts: List[str] = []
        preview, info, started = None, "", time.time()
        status = progress_html(f"{len(run.plan.items)} picture(s) to do, {len(run.plan.skipped)} skipped")
        for event in run:
            if isinstance(event, FileProgress):
                report = self.services.queue.progress(run.owner)
                if report is None:
                    continue
                done = batch_fraction(event.index, event.total, report)
                eta = eta_seconds(time.time() - started, done)
                status = progress_html(f"File {event.index + 1}/{event.total} ({event.rel}): step {report.step}/"
                                       f"{report.steps}, ETA {eta:.0f} s", round(done * 100), 100)
                preview = report.preview
            elif isinstance(event, FileResult):
                if limit < 0 or len(gallery) < limit:
                    gallery.append((event.result.image, event.rel))
                infotexts.append(event.result.infotext)
                info = event.result.infotext
            elif isinstance(event, (FileSkipped, FileFailed)):
                continue
            elif isinstance(event, BatchSummary):
                status, info = progress_html(event.text().split("\n")[0]), event.text()
            yield shown(gallery, status, preview, info, infotexts, running=not isinstance(event, BatchSummary))

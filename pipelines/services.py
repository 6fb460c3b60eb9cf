"""The services the page, the API and batch are handed (InvokeAI's `context`): the model manager, the job queue, the
prompt tools and the settings. Nothing outside `pipelines` reaches past these methods into a model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .events import Done
from .face_restoration import FaceRestorers
from .job import Job
from .job_queue import JobHandle, JobQueue, QueueLimits
from .model_manager import Folders, ModelManager, Placement
from .prompt_tools import PromptTools
from .prompts import StyleDatabase
from .saving import ImageSaver
from .scripts import ScriptContext, check_scripts, selected_script
from .settings import SettingsStore
from .upscalers import Upscalers
from .workers import LocalWorker, RayOptions


@dataclass
class Services:
    models: ModelManager
    queue: JobQueue
    prompts: PromptTools
    settings: SettingsStore
    upscalers: Upscalers
    face_restorers: FaceRestorers

    def update_settings(self, changes: Dict[str, Any]) -> None:
        """Check and apply settings (A1111's POST /options): an unknown `sd_vae` or a bad value raises a JobError,
        a checkpoint that does not load a ModelLoadError; `sd_model_checkpoint` loads that model."""
        if "sd_vae" in changes:
            self.models.check_vae(changes["sd_vae"])
        checkpoint = changes.get("sd_model_checkpoint")
        if checkpoint and checkpoint != self.models.title:
            changes = dict(changes, sd_model_checkpoint=self.models.load(checkpoint).title)
        self.settings.update(changes)

    def setting_values(self) -> Dict[str, Any]:
        return dict(self.settings.values, sd_model_checkpoint=self.models.title)

    def choices(self, source: str) -> List[str]:
        """A list the server knows, named by a parameter's `choices_from` (a script argument's choices)."""
        lists = {"upscalers": self.upscalers.names, "checkpoints": self.models.titles}
        if source not in lists:
            raise KeyError(f"no list named {source!r}")
        return lists[source]()

    def close(self) -> None:
        self.queue.close()


def build_services(ckpt: Optional[str] = None, folders: Folders = Folders(), placement: Placement = Placement(),
                   settings: Optional[SettingsStore] = None, limits: QueueLimits = QueueLimits(),
                   ray: Optional[RayOptions] = None) -> Services:
    """Load the model (ModelLoadError when it does not load) and start the queue's workers: this process's, or with
    `ray` one Ray actor per GPU (or CPU workers), each with its own copy of the model."""
    settings = settings or SettingsStore()
    models = ModelManager(ckpt, folders, placement if ray is None else Placement(device="cpu", half=False))
    prompt_tools = PromptTools(StyleDatabase(folders.styles_file), models, settings)
    saver = ImageSaver(folders.outdir) if folders.outdir else None
    upscalers = Upscalers(folders.models_dir, models.device)
    face_restorers = FaceRestorers(folders.models_dir, models.device)

    def prepare(job: Job) -> Job:
        job.validate()
        check_scripts(job)
        return prompt_tools.apply_styles(job)

    def run(handle: JobHandle, worker) -> Done:
        def process(job: Job, emit) -> Done:
            return worker.process(job, settings.options(), handle.control, emit)

        script = selected_script(handle.job)
        if script is None:
            return process(handle.job, handle.emit)
        options = settings.options().with_overrides(handle.job.override_settings)
        context = ScriptContext(process, handle.control, handle.emit, options, saver, upscalers,
                                prompt_tools.apply_styles)
        with worker.holding_switches():
            return script.run(handle.job, context)

    if ray is None:
        workers = [LocalWorker(models, saver, upscalers, face_restorers)]
    else:
        from .ray_workers import start_workers  # Ray is an optional requirement (requirements-ray.txt)
        workers = start_workers(ray, ckpt, folders, placement, saver, lambda: models.title)
    queue = JobQueue(run, prepare, limits, workers,
                     lambda job: job.override_settings.get("sd_model_checkpoint") or models.title)
    return Services(models, queue, prompt_tools, settings, upscalers, face_restorers)

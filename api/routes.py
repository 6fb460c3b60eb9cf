"""A1111's `/sdapi/v1` routes: a thin layer that turns requests into Jobs for the queue and events into A1111's
response shapes. Jobs queue with the page's; each caller is the owner of its jobs (`user:NAME` when logged in, as on
the page, so that a user's API and page jobs are one user's; else `addr:IP`), and sees and interrupts only its own."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.concurrency import run_in_threadpool

from pipelines import (SCHEDULES, Done, Failed, ImageInputError, Job, JobError, ModelLoadError, Services,
                       parse_generation_parameters)
from pipelines.models import known_hash
from pipelines.imageops import PixelBudget
from pipelines.noise import fixed_seed
from pipelines.samplers import SAMPLERS, Sampler
from pipelines.saving import read_infotext
from pipelines.settings import admin_only

from .images import decode_image, encode_image, optional_image
from .script_info import find_script, script_info, script_lists
from .schema import Img2ImgRequest, PngInfoRequest, Txt2ImgRequest, job_params

log = logging.getLogger(__name__)
PREFIX = "/sdapi/v1"
LOOPBACK = ("127.0.0.1", "::1")


class Api:
    def __init__(self, services: Services, cmd_flags: Dict[str, Any], auth: Optional[Dict[str, str]] = None,
                 admins: frozenset = frozenset()):
        self.services, self.cmd_flags, self.auth, self.admins = services, cmd_flags, auth, admins
        self.router = APIRouter(prefix=PREFIX, dependencies=[Depends(self.caller)])
        r = self.router
        r.add_api_route("/img2img", self.img2img, methods=["POST"])
        r.add_api_route("/txt2img", self.txt2img, methods=["POST"])
        r.add_api_route("/progress", self.progress, methods=["GET"])
        r.add_api_route("/interrupt", self.interrupt, methods=["POST"])
        r.add_api_route("/queue", self.queue, methods=["GET"])
        r.add_api_route("/workers", self.workers, methods=["GET"])
        r.add_api_route("/skip", self.skip, methods=["POST"])
        r.add_api_route("/png-info", self.png_info, methods=["POST"])
        r.add_api_route("/options", self.get_options, methods=["GET"])
        r.add_api_route("/options", self.set_options, methods=["POST"])
        r.add_api_route("/cmd-flags", lambda: self.cmd_flags, methods=["GET"])
        r.add_api_route("/samplers", self.samplers, methods=["GET"])
        r.add_api_route("/schedulers", self.schedulers, methods=["GET"])
        r.add_api_route("/upscalers", self.upscalers, methods=["GET"])
        r.add_api_route("/latent-upscale-modes", lambda: [{"name": "Latent"}], methods=["GET"])
        r.add_api_route("/sd-models", self.sd_models, methods=["GET"])
        r.add_api_route("/memory", self.memory, methods=["GET"])
        r.add_api_route("/scripts", script_lists, methods=["GET"])
        r.add_api_route("/script-info", lambda: script_info(self.services.choices), methods=["GET"])
        r.add_api_route("/sd-vae", self.sd_vae, methods=["GET"])
        r.add_api_route("/loras", self.loras, methods=["GET"])
        r.add_api_route("/embeddings", self.embeddings, methods=["GET"])
        r.add_api_route("/prompt-styles", self.prompt_styles, methods=["GET"])
        # Folders and styles.csv are read again whenever they change: a refresh has nothing left to do.
        for path in ("/refresh-checkpoints", "/refresh-vae", "/refresh-loras", "/refresh-embeddings"):
            r.add_api_route(path, lambda: None, methods=["POST"])
        r.add_api_route("/unload-checkpoint", self.unload_checkpoint, methods=["POST"])
        r.add_api_route("/reload-checkpoint", self.reload_checkpoint, methods=["POST"])
        # What this project does not have yet, answered honestly as empty.
        r.add_api_route("/face-restorers", self.face_restorers, methods=["GET"])
        for path in ("/hypernetworks", "/realesrgan-models", "/extensions"):
            r.add_api_route(path, lambda: [], methods=["GET"])

    # -- who is calling ----------------------------------------------------------------------------------------------

    def caller(self, request: Request, credentials: Optional[HTTPBasicCredentials] = Depends(HTTPBasic(
            auto_error=False))) -> str:
        """HTTP Basic auth when --api-auth is set; the caller's identity owns its jobs."""
        if self.auth is not None:
            expected = self.auth.get(credentials.username) if credentials else None
            if expected is None or not secrets.compare_digest(credentials.password.encode(), expected.encode()):
                raise HTTPException(401, "Incorrect username or password", headers={"WWW-Authenticate": "Basic"})
            request.state.owner = "user:" + credentials.username
            request.state.admin = credentials.username in self.admins
        else:
            host = request.client.host if request.client else "?"
            request.state.owner = "addr:" + host
            request.state.admin = host in LOOPBACK  # no logins: the machine's own clients are its admin
        return request.state.owner

    # -- generation --------------------------------------------------------------------------------------------------

    # The generation routes wait for their jobs without holding a thread (they poll on the event loop), so that
    # however many wait, progress, interrupt, options and the page are answered by the thread pool at once.

    async def img2img(self, req: Img2ImgRequest, request: Request):
        jobs = await run_in_threadpool(self.img2img_jobs, req)
        dones = [await self.run(request, job) for job in jobs]
        parameters = req.model_dump()
        if not req.include_init_images:
            parameters.update(init_images=None, mask=None, masks=None)
        return await run_in_threadpool(self.response, dones, parameters, req.send_images)

    def img2img_jobs(self, req: Img2ImgRequest) -> List[Job]:
        """The request's pictures decoded (within its pixel budget) and its Jobs: one, or one per (picture, mask)
        pair, seeds continuing from one to the next."""
        allow_urls = bool(self.services.settings.get("api_enable_requests"))
        if not req.init_images:
            raise HTTPException(404, "Init image not found")
        if req.masks is not None and len(req.masks) != len(req.init_images):
            raise HTTPException(422, f"masks: {len(req.masks)} masks for {len(req.init_images)} init images "
                                     "(one mask per init image)")
        budget = PixelBudget()  # all of the request's pictures together, checked before each is decoded
        try:
            images = [decode_image(d, f"init_images[{i}]", allow_urls, budget) for i, d in enumerate(req.init_images)]
            masks = None if req.masks is None else [optional_image(d, f"masks[{i}]", allow_urls, budget)
                                                    for i, d in enumerate(req.masks)]
            mask = optional_image(req.mask, "mask", allow_urls, budget)
            latent_mask = optional_image(req.latent_mask, "latent_mask", allow_urls, budget)
        except ImageInputError as e:
            raise HTTPException(422, str(e)) from None
        params = dict(job_params(req), latent_mask=latent_mask)
        if masks is None:
            return [Job(init_images=images, mask=mask, **params)]
        seed, per_job = fixed_seed(req.seed), req.n_iter * req.batch_size
        return [Job(init_images=[image], mask=m, **dict(params, seed=seed + i * per_job))
                for i, (image, m) in enumerate(zip(images, masks))]

    async def txt2img(self, req: Txt2ImgRequest, request: Request):
        try:
            script = find_script(req.script_name)
        except JobError as e:
            raise HTTPException(422, str(e)) from None
        if script is not None and script.img2img_only:
            raise HTTPException(422, f"script {req.script_name!r} not found: it is an img2img script")
        done = await self.run(request, Job(**job_params(req)))
        return await run_in_threadpool(self.response, [done], req.model_dump(), req.send_images)

    async def run(self, request: Request, job: Job) -> Done:
        """Queue the job as the caller's and wait for it; a caller who goes away interrupts it within a second."""
        handle = await run_in_threadpool(self.services.queue.submit, job, request.state.owner)
        watcher = asyncio.create_task(interrupt_when_gone(request, handle))
        try:
            while not handle.finished.is_set():
                await asyncio.sleep(0.05)
        finally:
            watcher.cancel()
        event = handle.result
        if isinstance(event, Failed):
            status = {"owner": 429, "server": 503}.get(event.busy, 422 if event.invalid else 500)
            raise HTTPException(status, event.error)
        return event

    @staticmethod
    def response(dones: List[Done], parameters: Dict[str, Any], send_images: bool) -> Dict[str, Any]:
        info = dict(dones[0].info)
        images = [image for done in dones for image in done.images]
        if len(dones) > 1:
            for key in ("all_prompts", "all_negative_prompts", "all_seeds", "all_subseeds", "infotexts"):
                info[key] = [v for done in dones for v in done.info[key]]
        if len(dones) == 1 and dones[0].grid is not None:  # A1111 sends the grid first
            images.insert(0, dones[0].grid)
            info["infotexts"] = info["infotexts"][:1] + info["infotexts"]
            info["index_of_first_image"] = 1
        return {"images": [encode_image(i) for i in images] if send_images else [],
                "parameters": jsonable_encoder(parameters), "info": json.dumps(info, ensure_ascii=False)}

    # -- progress ----------------------------------------------------------------------------------------------------

    def progress(self, request: Request, skip_current_image: bool = False):
        report = self.services.queue.progress(request.state.owner)
        idle = {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "", "job_count": 0,
                "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
        if report is None:
            return {"progress": 0, "eta_relative": 0, "state": idle, "current_image": None, "textinfo": None}
        state = dict(idle, skipped=report.skipped, interrupted=report.interrupted,
                     job=f"{report.job_no + 1}/{report.job_count}", job_count=report.job_count, job_no=report.job_no,
                     job_timestamp=time.strftime("%Y%m%d%H%M%S", time.localtime(report.started)),
                     sampling_step=report.step, sampling_steps=report.steps)
        image = None if skip_current_image or report.preview is None else encode_image(report.preview)
        text = f"In queue: {report.position} ahead" if report.position else None
        return {"progress": report.fraction, "eta_relative": report.eta, "state": state, "current_image": image,
                "textinfo": text}

    def interrupt(self, request: Request, owner: Optional[str] = None):
        """The caller's jobs; an admin may name any `owner` from /sdapi/v1/queue."""
        if owner is not None and owner != request.state.owner and not request.state.admin:
            raise HTTPException(403, "only an admin may interrupt another user's jobs")
        self.services.queue.interrupt(owner or request.state.owner)
        return {}

    def queue(self, request: Request):
        """The whole queue for an admin; the caller's own jobs for anyone else (beyond A1111)."""
        jobs = self.services.queue.overview()
        return jobs if request.state.admin else [j for j in jobs if j["owner"] == request.state.owner]

    def workers(self, request: Request):
        """The workers, each with its device, loaded model and whose job it runs (beyond A1111). Anyone else than an
        admin sees only their own jobs' owner."""
        states = self.services.queue.worker_states()
        if not request.state.admin:
            states = [dict(s, owner=s["owner"] if s["owner"] == request.state.owner else None) for s in states]
        return states

    def skip(self, request: Request):
        self.services.queue.skip(request.state.owner)
        return None

    # -- information -------------------------------------------------------------------------------------------------

    def png_info(self, req: PngInfoRequest):
        if not req.image:
            raise HTTPException(404, "Image not found")
        try:
            image = decode_image(req.image, "image", allow_urls=False)
        except ImageInputError as e:
            raise HTTPException(422, str(e)) from None
        text = read_infotext(image)
        items = {k: v for k, v in image.info.items() if k != "parameters" and isinstance(v, (str, int, float))}
        return {"info": text, "items": items, "parameters": parse_generation_parameters(text) if text else {}}

    def get_options(self):
        return self.services.setting_values()

    def set_options(self, request: Request, changes: Dict[str, Any] = Body(...)):
        refused = admin_only(changes)
        if refused and not request.state.admin:
            raise HTTPException(403, f"only an admin may change {', '.join(refused)} (they apply to everyone)")
        try:
            self.services.update_settings(changes)
        except ModelLoadError as e:
            raise HTTPException(400, str(e)) from None
        except JobError as e:
            raise HTTPException(422, str(e)) from None
        return None

    @staticmethod
    def samplers():
        return [{"name": s.name, "aliases": list(s.aliases), "options": sampler_options(s)} for s in SAMPLERS]

    @staticmethod
    def schedulers():
        return [{"name": s.name, "label": s.label, "aliases": list(s.aliases) if s.aliases else None,
                 "default_rho": s.default_rho, "need_inner_model": s.need_inner_model}
                for s in SCHEDULES.values()]

    def upscalers(self):
        return [{"name": u.name, "model_name": u.model_name, "model_path": str(u.path) if u.path else None,
                 "model_url": None, "scale": u.scale} for u in self.services.upscalers.list()]

    def face_restorers(self):
        return [{"name": f.name, "cmd_dir": f.cmd_dir} for f in self.services.face_restorers.list()]

    def sd_models(self):
        models = []
        for info in self.services.models.checkpoints():
            sha256 = known_hash(info)
            models.append({"title": info.title, "model_name": info.name, "hash": sha256[:10] if sha256 else None,
                           "sha256": sha256, "filename": info.path, "config": None})
        return models

    def sd_vae(self):
        return [{"model_name": Path(name).stem, "filename": str(path)}
                for name, path in self.services.models.vaes().items()]

    def loras(self):
        """As A1111's Lora extension lists them; `metadata` is the file's safetensors metadata (kohya's ss_* keys)."""
        listed = []
        for name, path in self.services.models.loras().items():
            listed.append({"name": name, "alias": name, "path": str(path), "metadata": safetensors_metadata(path)})
        return listed

    def embeddings(self):
        loaded, skipped = self.services.models.embeddings()

        def describe(e):
            return {"step": e.step, "sd_checkpoint": e.checkpoint, "sd_checkpoint_name": e.checkpoint_name,
                    "shape": e.shape, "vectors": e.vectors}
        return {"loaded": {n: describe(e) for n, e in loaded.items()},
                "skipped": {n: describe(e) for n, e in skipped.items()}}

    def prompt_styles(self):
        return [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
                for s in self.services.prompts.styles().values()]

    @staticmethod
    def memory():
        import torch
        page = os.sysconf("SC_PAGE_SIZE")
        total, free = os.sysconf("SC_PHYS_PAGES") * page, os.sysconf("SC_AVPHYS_PAGES") * page
        ram = {"free": free, "used": total - free, "total": total}
        if not torch.cuda.is_available():
            return {"ram": ram, "cuda": {"error": "no CUDA device"}}
        free_gpu, total_gpu = torch.cuda.mem_get_info()
        stats = torch.cuda.memory_stats()
        return {"ram": ram, "cuda": {
            "system": {"free": free_gpu, "used": total_gpu - free_gpu, "total": total_gpu},
            "active": {"current": stats.get("active_bytes.all.current", 0),
                       "peak": stats.get("active_bytes.all.peak", 0)},
            "allocated": {"current": stats.get("allocated_bytes.all.current", 0),
                          "peak": stats.get("allocated_bytes.all.peak", 0)},
            "reserved": {"current": stats.get("reserved_bytes.all.current", 0),
                         "peak": stats.get("reserved_bytes.all.peak", 0)},
            "inactive": {"current": stats.get("inactive_split_bytes.all.current", 0),
                         "peak": stats.get("inactive_split_bytes.all.peak", 0)},
            "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)}}}

    def unload_checkpoint(self):
        self.services.models.unload()
        return {}

    def reload_checkpoint(self):
        try:
            self.services.models.reload()
        except ModelLoadError as e:
            raise HTTPException(500, str(e)) from None
        return {}


async def interrupt_when_gone(request: Request, handle) -> None:
    """Wait for the client's next message: with the body read, the only one left is that it went away."""
    while not handle.finished.is_set():
        message = await request.receive()
        if message["type"] == "http.disconnect":
            handle.control.interrupted.set()
            return


def sampler_options(sampler: Sampler) -> Dict[str, Any]:
    """A1111's `SamplerData.options` for a sampler."""
    options = {"scheduler": SCHEDULES[sampler.default_schedule].name} if sampler.default_schedule else {}
    flags = {"second_order": sampler.second_order, "brownian_noise": sampler.brownian_noise,
             "discard_next_to_last_sigma": sampler.discard_penultimate_sigma, "uses_ensd": sampler.uses_ensd}
    options.update({k: True for k, v in flags.items() if v})
    if sampler.solver_type:
        options["solver_type"] = sampler.solver_type
    return options


def safetensors_metadata(path: Path) -> Dict[str, Any]:
    if path.suffix.lower() != ".safetensors":
        return {}
    from safetensors import safe_open
    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # an unreadable file lists without metadata; using it gives the error
        return {}


def _error(status: int, error: str, detail: Any, body: Any, errors: Any, headers=None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers,
                        content=jsonable_encoder({"error": error, "detail": detail, "body": body, "errors": errors}))


def mount_api(app: FastAPI, services: Services, cmd_flags: Dict[str, Any],
              auth: Optional[Dict[str, str]] = None, admins=frozenset()) -> Api:
    """Add the routes to `app`, with A1111's error shape `{error, detail, body, errors}` on them, and `/docs` and
    `/openapi.json` behind the API's credentials."""
    api = Api(services, cmd_flags, auth, frozenset(admins))
    app.include_router(api.router)
    docs = APIRouter(dependencies=[Depends(api.caller)])
    docs.add_api_route("/openapi.json", lambda: JSONResponse(app.openapi()), methods=["GET"], include_in_schema=False)
    docs.add_api_route("/docs", lambda: get_swagger_ui_html(openapi_url="/openapi.json", title="img2img API"),
                       methods=["GET"], include_in_schema=False)
    app.include_router(docs)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return _error(e.status_code, "HTTPException", e.detail, "", str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        problems = ["{}: {}".format(".".join(str(p) for p in err["loc"] if p != "body"), err["msg"])
                    for err in e.errors()]
        return _error(422, "RequestValidationError", "; ".join(problems), None, e.errors())

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, e: Exception):
        log.exception("API error on %s", request.url.path)
        return _error(500, type(e).__name__, "", "", str(e))

    @app.middleware("http")
    async def process_time(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Process-Time"] = f"{time.perf_counter() - start:.4f}"
        return response

    return api

"""The browser page: A1111's img2img tab on Gradio Blocks, a thin layer over modes/ and the engine.

Six mode tabs in A1111's order share one parameter panel; Generate streams each picture into the gallery as soon as
it is saved, with a progress bar, the step count and ETA, and a live preview. Each browser session sees, and can
interrupt, only its own job; a job waiting behind someone else's shows its place in line.
"""
from __future__ import annotations

import html
import inspect
import logging
import time
from typing import Dict, List, Optional, Sequence

import gradio as gr

import modes
from pipelines import (INPAINT_AREAS, MASK_MODES, MASKED_CONTENT, RESIZE_MODES, SCHEDULES, Done, Engine, Failed,
                       ImageInputError, JobError, Notice, Progress, Queued, Result, img2img_steps,
                       parse_generation_parameters, sampler_names)
from modes.batch import (PNG_INFO_FIELDS, BatchPathError, BatchRun, BatchSettings, BatchSummary, FileFailed,
                         FileProgress, FileResult, FileSkipped)
from pipelines.imageops import scaled_size

log = logging.getLogger(__name__)

TABS = ["img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch"]
MODE_API_NAMES = ["img2img", "sketch", "inpaint", "inpaint_sketch", "inpaint_upload", "batch"]
INPAINT_TABS = (2, 3, 4, 5)  # and Batch, where A1111 hides them though they apply
BATCH_SHOW_LIMIT = 32

# Ctrl+Enter generates, Escape interrupts (A1111's keys).
KEYS_JS = """
<script>
document.addEventListener('keydown', (e) => {
  const inPrompt = e.target && e.target.closest && e.target.closest('#prompt, #negative_prompt');
  if (inPrompt && e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault(); document.querySelector('#generate_button')?.click();
  } else if (e.key === 'Escape') {
    document.querySelector('#interrupt_button')?.click();
  }
});
</script>
"""

# Events the page itself uses: run at once, outside the queue, and not offered to API clients.
UI_ONLY = dict(queue=False, api_visibility="undocumented")

CSS = ("#progress_status progress {width: 100%; height: 14px;} #gallery {min-height: 360px;} "
       ".token-counter {font-size: 0.85em; opacity: 0.8; white-space: nowrap;}")


def progress_html(text: str, step: int = 0, steps: int = 0) -> str:
    bar = f'<progress value="{step}" max="{steps}"></progress>' if steps else ""
    return f'<div class="progress-line">{bar}<span>{html.escape(text)}</span></div>'


class Page:
    """Builds the Blocks and holds what its event handlers need: the engine and each session's running jobs."""

    def __init__(self, engine: Engine, batch_roots: Sequence[str] = (), hide_dir_config: bool = False):
        self.engine = engine
        self.batch_roots = list(batch_roots)
        self.hide_dir_config = hide_dir_config
        self.running: Dict[str, object] = {}  # session -> its running JobHandle or BatchRun

    # -- parameters --------------------------------------------------------------------------------------------------

    @staticmethod
    def job_params(v: dict) -> dict:
        params = dict(prompt=v["prompt"], negative_prompt=v["negative_prompt"], sampler_name=v["sampler_name"],
                      scheduler=v["scheduler"], steps=int(v["steps"]), resize_mode=int(v["resize_mode"]),
                      cfg_scale=float(v["cfg_scale"]), denoising_strength=float(v["denoising_strength"]),
                      seed=int(v["seed"]), n_iter=int(v["n_iter"]), batch_size=int(v["batch_size"]),
                      mask_blur=int(v["mask_blur"]), inpainting_mask_invert=int(v["mask_mode"]),
                      inpainting_fill=int(v["inpainting_fill"]), inpaint_full_res=bool(v["inpaint_area"]),
                      inpaint_full_res_padding=int(v["inpaint_full_res_padding"]), styles=list(v["styles"] or []),
                      override_settings={"sd_vae": v["sd_vae"], "CLIP_stop_at_last_layers": int(v["clip_skip"])})
        if v["resize_by"]:
            params["scale_by"] = float(v["scale_by"])
        else:
            params["width"], params["height"] = int(v["width"]), int(v["height"])
        if v["seed_extras"]:
            params.update(subseed=int(v["subseed"]), subseed_strength=float(v["subseed_strength"]),
                          seed_resize_from_w=int(v["seed_resize_from_w"]) or -1,
                          seed_resize_from_h=int(v["seed_resize_from_h"]) or -1)
        return params

    def make_jobs(self, mode: int, v: dict) -> List:
        """The mode's inputs -> Jobs (several for a batch of files); a clear gr.Error for missing or bad input."""
        params = self.job_params(v)
        try:
            if mode == 0:
                require(v["init_img"], "Upload a picture on the img2img tab first.")
                return [modes.img2img.make_job(v["init_img"], **params)]
            if mode == 1:
                editor = require_editor(v["sketch"], "Sketch")
                return [modes.sketch.make_job(editor["composite"], **params)]
            if mode == 2:
                editor = require_editor(v["inpaint"], "Inpaint")
                return [modes.inpaint.make_job(editor["background"], editor.get("layers") or [], **params)]
            if mode == 3:
                editor = require_editor(v["inpaint_sketch"], "Inpaint sketch")
                params.pop("mask_blur")
                return [modes.inpaint_sketch.make_job(editor["background"], editor["composite"],
                                                      mask_alpha=float(v["mask_alpha"]), mask_blur=int(v["mask_blur"]),
                                                      **params)]
            if mode == 4:
                require(v["upload_image"], "Upload a picture on the Inpaint upload tab first.")
                require(v["upload_mask"], "Upload a mask on the Inpaint upload tab first.")
                return [modes.inpaint_upload.make_job(v["upload_image"], v["upload_mask"], **params)]
            files = require(v["batch_files"], "Add pictures on the Batch tab first.")
            jobs = []
            for path in files:
                try:
                    jobs.append(modes.img2img.make_job(path, **params))
                except ImageInputError as e:
                    gr.Warning(f"Skipped {path.rsplit('/', 1)[-1]}: {e}")
            return jobs
        except (ImageInputError, JobError) as e:
            raise gr.Error(str(e)) from None

    # -- generation --------------------------------------------------------------------------------------------------

    def generate(self, mode: int, values: dict, request: Optional[gr.Request]):
        """Yields (gallery, progress html, preview, infotext, infotexts) as the job goes."""
        owner = request.session_hash if request is not None else None
        # "From directory" when its tab is selected, or (API callers, who have no tabs) a folder and no files
        from_dir = values["batch_from_dir"] or (values["batch_input_dir"] and not values["batch_files"])
        if int(mode) == 5 and from_dir:
            yield from self.generate_batch_folder(values, owner)
            return
        jobs = self.make_jobs(int(mode), values)
        gallery: list = []
        infotexts: List[str] = []
        preview, info = None, ""
        limit = BATCH_SHOW_LIMIT if int(mode) == 5 else None
        for number, job in enumerate(jobs):
            handle = self.engine.submit(job, owner)
            self.running[owner] = handle
            started = time.monotonic()
            prefix = f"File {number + 1}/{len(jobs)}: " if len(jobs) > 1 else ""
            try:
                for event in handle:
                    status = None
                    if isinstance(event, Queued):
                        status = progress_html(f"{prefix}Waiting: {event.position} job(s) ahead of yours")
                    elif isinstance(event, Progress):
                        elapsed = time.monotonic() - started
                        done = (event.job_no * event.steps + event.step) / (event.job_count * event.steps)
                        eta = elapsed / done - elapsed if done else 0
                        batch = f" (batch {event.job_no + 1}/{event.job_count})" if event.job_count > 1 else ""
                        status = progress_html(f"{prefix}Step {event.step}/{event.steps}{batch}, ETA {eta:.0f} s",
                                               event.job_no * event.steps + event.step,
                                               event.job_count * event.steps)
                        preview = event.preview if event.preview is not None else preview
                    elif isinstance(event, Result):
                        if limit is None or len(gallery) < limit:
                            gallery.append((event.image, f"Seed {event.seed}"))
                        infotexts.append(event.infotext)
                        info = event.infotext
                    elif isinstance(event, Notice):
                        gr.Info(event.message)
                        continue
                    elif isinstance(event, Failed):
                        raise gr.Error(event.error)
                    elif isinstance(event, Done):
                        status = progress_html(("Interrupted" if event.interrupted else "Done") +
                                               f" in {time.monotonic() - started:.1f} s: {len(event.images)} "
                                               f"picture(s)")
                    yield gallery, status, preview, info, infotexts
            finally:
                if self.running.get(owner) is handle:
                    del self.running[owner]
            if handle.result is not None and getattr(handle.result, "interrupted", False):
                break

    def generate_batch_folder(self, v: dict, owner: Optional[str]):
        """The Batch tab's "From directory": folders confined to the allowed roots, results streamed (up to a limit),
        skipped and failed files listed with their reasons at the end."""
        if self.hide_dir_config:
            raise gr.Error("Folder batch is disabled on this server (--hide-ui-dir-config).")
        settings = BatchSettings(input_dir=v["batch_input_dir"], output_dir=v["batch_output_dir"],
                                 mask_dir=v["batch_mask_dir"], png_info=bool(v["batch_png_info"]),
                                 png_info_dir=v["batch_png_info_dir"] if v["batch_png_info"] else "",
                                 png_info_fields=v["batch_png_info_fields"] or [], resume=bool(v["batch_resume"]),
                                 roots=self.batch_roots)
        try:
            run = BatchRun(self.engine, settings, self.job_params(v), owner)
        except (BatchPathError, JobError) as e:
            raise gr.Error(str(e)) from None
        self.running[owner] = run
        gallery, infotexts, preview, info = [], [], None, ""
        status = progress_html(f"{len(run.plan.items)} picture(s) to do, {len(run.plan.skipped)} skipped")
        started = time.monotonic()
        try:
            for event in run:
                if isinstance(event, FileProgress):
                    p = event.progress
                    done = event.index + (p.job_no + p.step / p.steps) / p.job_count
                    elapsed = time.monotonic() - started
                    eta = elapsed / (done / event.total) - elapsed if done else 0
                    status = progress_html(f"File {event.index + 1}/{event.total} ({event.rel}): step {p.step}/"
                                           f"{p.steps}, ETA {eta:.0f} s", round(done * 100), event.total * 100)
                    preview = p.preview if p.preview is not None else preview
                elif isinstance(event, FileResult):
                    if len(gallery) < BATCH_SHOW_LIMIT:
                        gallery.append((event.result.image, event.rel))
                    infotexts.append(event.result.infotext)
                    info = event.result.infotext
                elif isinstance(event, (FileSkipped, FileFailed)):
                    continue
                elif isinstance(event, BatchSummary):
                    status = progress_html(event.text().split("\n")[0])
                    info = event.text()
                yield gallery, status, preview, info, infotexts
        finally:
            if self.running.get(owner) is run:
                del self.running[owner]

    def interrupt(self, request: gr.Request):
        handle = self.running.get(request.session_hash)
        if handle is not None:
            handle.interrupt()

    def skip(self, request: gr.Request):
        handle = self.running.get(request.session_hash)
        if handle is not None:
            handle.skip()

    # -- layout ------------------------------------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        engine = self.engine
        with gr.Blocks(title="img2img") as blocks:
            for notice in engine.notices:
                gr.Markdown(f"**Note:** {notice}", elem_id="notice")
            top: Dict[str, gr.components.Component] = {}
            with gr.Row():
                checkpoint = gr.Dropdown([c.title for c in engine.checkpoints()], label="Stable Diffusion checkpoint",
                                         value=engine.checkpoint.title if engine.checkpoint else None,
                                         elem_id="checkpoint", scale=4)
                refresh = gr.Button("Refresh", scale=0, min_width=80)
                # per request, not server-wide: one person's VAE or Clip skip does not change another's pictures
                top["sd_vae"] = gr.Dropdown(self.vae_choices(), value=engine.options.sd_vae, label="SD VAE",
                                            elem_id="sd_vae", scale=2)
                top["clip_skip"] = gr.Slider(1, 12, value=engine.options.CLIP_stop_at_last_layers, step=1,
                                             label="Clip skip", elem_id="clip_skip", scale=2)
            with gr.Tabs() as top_tabs:
                with gr.Tab("img2img", id="img2img_top"):
                    panel = self.build_img2img_tab(top)
                with gr.Tab("PNG Info", id="png_info_top"):
                    self.build_png_info_tab(panel, top_tabs)

            def load_checkpoint(title):
                try:
                    loaded = engine.load_checkpoint(title)
                except Exception as e:  # a model that does not load leaves the old one in place
                    raise gr.Error(str(e)) from None
                gr.Info(f"Loaded {loaded.info.title}")
                # a file is hashed when it loads: its title gains A1111's "[hash]"
                return gr.update(choices=[c.title for c in engine.checkpoints()], value=loaded.info.title)

            checkpoint.input(load_checkpoint, checkpoint, checkpoint, api_visibility="undocumented")
            refresh.click(lambda: (gr.update(choices=[c.title for c in engine.checkpoints()]),
                                   gr.update(choices=self.vae_choices()),
                                   gr.update(choices=list(engine.styles.styles()))),
                          None, [checkpoint, top["sd_vae"], panel["components"]["styles"]], **UI_ONLY)
        return blocks

    def vae_choices(self) -> List[str]:
        return ["Automatic", "None"] + list(self.engine.library.vaes())

    def token_counter(self, prompt: str, steps) -> str:
        """A1111's "tokens / chunk size" next to a prompt box."""
        try:
            used, size = self.engine.count_tokens(prompt, int(steps or 20))
        except Exception as e:  # the counter never gets in the way of typing
            log.debug("token count failed: %s", e)
            return ""
        return f"<span class='token-counter'>{used}/{size}</span>"

    def build_img2img_tab(self, top: dict) -> dict:
        c: Dict[str, gr.components.Component] = dict(top)
        mode = gr.State(0)
        with gr.Row():
            with gr.Column(scale=6):
                with gr.Row():
                    c["prompt"] = gr.Textbox(label="Prompt", lines=3, elem_id="prompt", scale=20,
                                             placeholder="Prompt (Ctrl+Enter to generate)")
                    prompt_tokens = gr.HTML(self.token_counter("", 20), elem_id="prompt_token_counter",
                                            min_width=60)
                with gr.Row():
                    c["negative_prompt"] = gr.Textbox(label="Negative prompt", lines=3, elem_id="negative_prompt",
                                                      scale=20)
                    negative_tokens = gr.HTML(self.token_counter("", 20), elem_id="negative_token_counter",
                                              min_width=60)
            with gr.Column(scale=1, min_width=160):
                generate = gr.Button("Generate", variant="primary", elem_id="generate_button")
                with gr.Row():
                    interrupt = gr.Button("Interrupt", elem_id="interrupt_button", min_width=60)
                    skip = gr.Button("Skip", elem_id="skip_button", min_width=60)
                c["styles"] = gr.Dropdown(list(self.engine.styles.styles()), value=[], multiselect=True,
                                          label="Styles", elem_id="styles")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tabs(elem_id="mode_tabs") as mode_tabs:
                    tabs, copy_buttons = [], {}  # copy_buttons: picture component name -> its "Copy image to"
                    with gr.Tab("img2img", id=0) as tab:
                        c["init_img"] = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA",
                                                 format="png", elem_id="img2img_image", height=480)
                        copy_buttons["init_img"] = self.copy_buttons()
                        tabs.append(tab)
                    for index, (name, colour) in enumerate((("sketch", True), ("inpaint", False),
                                                            ("inpaint_sketch", True)), start=1):
                        with gr.Tab(TABS[index], id=index) as tab:
                            c[name] = editor(f"{name}_editor", colour=colour)
                            copy_buttons[name] = self.copy_buttons()
                            tabs.append(tab)
                    with gr.Tab("Inpaint upload", id=4) as tab:
                        c["upload_image"] = gr.Image(label="Image", type="pil", format="png", elem_id="upload_image")
                        c["upload_mask"] = gr.Image(label="Mask (white or opaque: repaint)", type="pil",
                                                    image_mode="RGBA", format="png", elem_id="upload_mask")
                        tabs.append(tab)
                    with gr.Tab("Batch", id=5) as tab:
                        c["batch_from_dir"] = gr.State(False)
                        with gr.Tabs():
                            with gr.Tab("Upload") as batch_upload_tab:
                                c["batch_files"] = gr.File(label="Pictures", file_count="multiple", type="filepath",
                                                           elem_id="batch_files")
                            with gr.Tab("From directory", visible=not self.hide_dir_config) as batch_dir_tab:
                                roots = ", ".join(self.batch_roots)
                                gr.Markdown(f"Folders must lie inside: `{roots}`. The output keeps each picture's "
                                            "sub-folder and name; a rerun skips pictures already done.")
                                c["batch_input_dir"] = gr.Textbox(label="Input directory", elem_id="batch_input_dir")
                                c["batch_output_dir"] = gr.Textbox(
                                    label="Output directory", elem_id="batch_output_dir",
                                    placeholder="Leave empty to save to outputs/img2img-images/<date>/")
                                c["batch_mask_dir"] = gr.Textbox(
                                    label="Inpaint batch mask directory (masks matched by file name; one file: for "
                                          "every picture)", elem_id="batch_mask_dir")
                                c["batch_resume"] = gr.Checkbox(True, label="Skip pictures whose outputs exist")
                                with gr.Accordion("PNG info", open=False):
                                    c["batch_png_info"] = gr.Checkbox(False, label="Append png info to prompts")
                                    c["batch_png_info_dir"] = gr.Textbox(
                                        label="PNG info directory", placeholder="Leave empty to use input directory")
                                    c["batch_png_info_fields"] = gr.CheckboxGroup(
                                        list(PNG_INFO_FIELDS), label="Parameters to take from png info")
                        tabs.append(tab)
                c["resize_mode"] = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0], type="index",
                                            label="Resize mode")
                with gr.Group(visible=False) as inpaint_group:
                    c["mask_blur"] = gr.Slider(0, 64, value=4, step=1, label="Mask blur")
                    c["mask_alpha"] = gr.Slider(0, 100, value=0, step=1, label="Mask transparency", visible=False)
                    c["mask_mode"] = gr.Radio(list(MASK_MODES), value=MASK_MODES[0], type="index", label="Mask mode")
                    c["inpainting_fill"] = gr.Radio(list(MASKED_CONTENT), value="original", type="index",
                                                    label="Masked content")
                    c["inpaint_area"] = gr.Radio(list(INPAINT_AREAS), value=INPAINT_AREAS[0], type="index",
                                                 label="Inpaint area")
                    c["inpaint_full_res_padding"] = gr.Slider(0, 256, value=32, step=4,
                                                              label="Only masked padding, pixels")
                with gr.Row():
                    c["sampler_name"] = gr.Dropdown(sampler_names(), value="DPM++ 2M", label="Sampling method")
                    c["scheduler"] = gr.Dropdown(list(SCHEDULES), value="Automatic", label="Schedule type")
                c["steps"] = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id="steps")
                c["resize_by"] = gr.State(False)
                with gr.Tabs():
                    with gr.Tab("Resize to") as resize_to_tab:
                        with gr.Row():
                            c["width"] = gr.Slider(64, 2048, value=512, step=8, label="Width", elem_id="width")
                            c["height"] = gr.Slider(64, 2048, value=512, step=8, label="Height", elem_id="height")
                    with gr.Tab("Resize by") as resize_by_tab:
                        c["scale_by"] = gr.Slider(0.05, 4, value=1, step=0.05, label="Scale")
                size_hint = gr.Markdown("", elem_id="size_hint")
                with gr.Row():
                    c["n_iter"] = gr.Slider(1, 100, value=1, step=1, label="Batch count")
                    c["batch_size"] = gr.Slider(1, 8, value=1, step=1, label="Batch size")
                c["cfg_scale"] = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale")
                c["denoising_strength"] = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                                    elem_id="denoising_strength")
                steps_hint = gr.Markdown(steps_text(20, 0.75), elem_id="steps_hint")
                with gr.Row():
                    c["seed"] = gr.Number(value=-1, precision=0, label="Seed", elem_id="seed", scale=4)
                    random_seed = gr.Button("Random", min_width=60, scale=0)
                    reuse_seed = gr.Button("Reuse", min_width=60, scale=0, elem_id="reuse_seed")
                    c["seed_extras"] = gr.Checkbox(False, label="Extra", scale=0, min_width=80)
                with gr.Group(visible=False) as seed_extras:
                    with gr.Row():
                        c["subseed"] = gr.Number(value=-1, precision=0, label="Variation seed")
                        c["subseed_strength"] = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength")
                    with gr.Row():
                        c["seed_resize_from_w"] = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from width")
                        c["seed_resize_from_h"] = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from height")
            with gr.Column(scale=1):
                status = gr.HTML(progress_html("Idle"), elem_id="progress_status")
                preview = gr.Image(label="Live preview", interactive=False, height=160, elem_id="preview",
                                   format="png")
                gallery = gr.Gallery(label="Output", columns=4, format="png", elem_id="gallery", height=400,
                                     object_fit="contain")
                info = gr.Textbox(label="Generation info", lines=5, interactive=False, elem_id="generation_info")
                infotexts = gr.State([])

        names = list(c)
        inputs = [c[n] for n in names]
        outputs = [gallery, status, preview, info, infotexts]

        def for_mode(fixed_mode: Optional[int]):
            def run(*args):
                *args, request = args  # Gradio passes the request last, where the signature below declares it
                current, values = (fixed_mode, args) if fixed_mode is not None else (args[0], args[1:])
                yield from self.generate(current, dict(zip(names, values)), request)
            # Named parameters with the panel's defaults, so that gradio_client callers pass only what they change.
            parameters = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=c[n].value)
                          for n in names]
            if fixed_mode is None:
                parameters.insert(0, inspect.Parameter("mode", inspect.Parameter.POSITIONAL_OR_KEYWORD))
            parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                                annotation=gr.Request))
            run.__signature__ = inspect.Signature(parameters)
            run.__annotations__ = {"request": gr.Request}  # Gradio finds the request by its type hint
            return run

        generate.click(for_mode(None), [mode] + inputs, outputs, api_name="generate", concurrency_limit=None)
        c["prompt"].submit(for_mode(None), [mode] + inputs, outputs, api_visibility="undocumented",
                           concurrency_limit=None)
        for index, api_name in enumerate(MODE_API_NAMES):  # one stable endpoint per mode for gradio_client
            hidden = gr.Button(visible=False)
            hidden.click(for_mode(index), inputs, outputs, api_name=api_name, concurrency_limit=None)
        interrupt.click(self.interrupt, None, None, **UI_ONLY)
        skip.click(self.skip, None, None, **UI_ONLY)

        for index, tab in enumerate(tabs):
            tab.select(lambda i=index: (i, gr.update(visible=i in INPAINT_TABS), gr.update(visible=i == 3)), None,
                       [mode, inpaint_group, c["mask_alpha"]], **UI_ONLY)
        resize_to_tab.select(lambda: False, None, c["resize_by"], **UI_ONLY)
        batch_upload_tab.select(lambda: False, None, c["batch_from_dir"], **UI_ONLY)
        batch_dir_tab.select(lambda: True, None, c["batch_from_dir"], **UI_ONLY)
        resize_by_tab.select(lambda: True, None, c["resize_by"], **UI_ONLY)
        for component in (c["steps"], c["denoising_strength"]):
            component.change(steps_text, [c["steps"], c["denoising_strength"]], steps_hint, **UI_ONLY)
        hint_inputs = [c["init_img"], c["resize_by"], c["width"], c["height"], c["scale_by"]]
        for component in hint_inputs[1:]:
            component.change(size_text, hint_inputs, size_hint, **UI_ONLY)
        c["init_img"].change(size_text, hint_inputs, size_hint, **UI_ONLY)
        c["seed_extras"].change(lambda on: gr.update(visible=on), c["seed_extras"], seed_extras, **UI_ONLY)
        random_seed.click(lambda: -1, None, c["seed"], **UI_ONLY)
        reuse_seed.click(seed_from_infotext, [info, c["seed"]], c["seed"], **UI_ONLY)
        gallery.select(selected_infotext, infotexts, info, **UI_ONLY)
        for box, counter in ((c["prompt"], prompt_tokens), (c["negative_prompt"], negative_tokens)):
            for trigger in (box, c["steps"]):  # prompt editing makes the longest text depend on the steps
                trigger.change(self.token_counter, [box, c["steps"]], counter, show_progress="hidden", **UI_ONLY)

        editors = {"sketch": c["sketch"], "inpaint": c["inpaint"], "inpaint_sketch": c["inpaint_sketch"]}
        for name, buttons in copy_buttons.items():
            self.wire_copy(buttons, c[name], c, editors, mode_tabs, mode, inpaint_group, c["mask_alpha"])
        return {"components": c, "mode_tabs": mode_tabs, "mode": mode, "inpaint_group": inpaint_group}

    @staticmethod
    def copy_buttons() -> Dict[str, gr.Button]:
        with gr.Row():
            gr.Markdown("Copy image to:")
            return {target: gr.Button(label, size="sm") for target, label in
                    (("img2img", "img2img"), ("sketch", "sketch"), ("inpaint", "inpaint"),
                     ("inpaint_sketch", "inpaint sketch"))}

    @staticmethod
    def wire_copy(buttons, source, c, editors, mode_tabs, mode, inpaint_group, mask_alpha):
        tab_of = {"img2img": 0, "sketch": 1, "inpaint": 2, "inpaint_sketch": 3}
        for target, button in buttons.items():
            destination = c["init_img"] if target == "img2img" else editors[target]
            if destination is source:
                button.visible = False
                continue
            index = tab_of[target]

            def copy(value, index=index, to_editor=target != "img2img"):
                picture = picture_of(value)
                if picture is None:
                    raise gr.Error("There is no picture to copy.")
                moved = {"background": picture, "layers": [], "composite": picture} if to_editor else picture
                return (moved, gr.Tabs(selected=index), index, gr.update(visible=index in INPAINT_TABS),
                        gr.update(visible=index == 3))

            button.click(copy, source, [destination, mode_tabs, mode, inpaint_group, mask_alpha], **UI_ONLY)

    def build_png_info_tab(self, panel: dict, top_tabs) -> None:
        c = panel["components"]
        with gr.Row():
            with gr.Column():
                image = gr.Image(label="Source", type="pil", format="png", elem_id="png_info_image")
            with gr.Column():
                text = gr.Textbox(label="Parameters", lines=8, interactive=False, elem_id="png_info_text")
                with gr.Row():
                    to_img2img = gr.Button("Send to img2img")
                    to_inpaint = gr.Button("Send to inpaint")
        image.change(lambda im: (im.info.get("parameters", "") if im is not None else ""), image, text, **UI_ONLY)
        fields = ["prompt", "negative_prompt", "seed", "sampler_name", "scheduler", "steps", "cfg_scale", "width",
                  "height", "denoising_strength", "mask_blur", "mask_mode", "inpainting_fill", "inpaint_area",
                  "inpaint_full_res_padding", "clip_skip"]
        targets = [c[f] for f in fields]
        for button, index in ((to_img2img, 0), (to_inpaint, 2)):
            def paste(infotext, picture, index=index):
                values = pasted_values(infotext, fields)
                editor_value = None
                if picture is not None:
                    editor_value = picture if index == 0 else {"background": picture, "layers": [],
                                                               "composite": picture}
                return (*values, editor_value, gr.Tabs(selected="img2img_top"), gr.Tabs(selected=index), index,
                        gr.update(visible=index in INPAINT_TABS))
            destination = c["init_img"] if index == 0 else c["inpaint"]
            button.click(paste, [text, image], targets + [destination, top_tabs, panel["mode_tabs"], panel["mode"],
                                                          panel["inpaint_group"]], **UI_ONLY)


# ---------------------------------------------------------------------------------------------------------------------
# helpers

def editor(elem_id: str, colour: bool) -> gr.ImageEditor:
    """A canvas: coloured brushes for the sketch tabs; for inpainting a white brush shown half transparent, one mask
    layer, and an eraser."""
    if colour:
        brush = gr.Brush(default_size=16, colors=["#ffffff", "#000000", "#ff0000", "#00ff00", "#0000ff", "#ffff00"],
                         default_color="#ffffff", color_mode="defaults")
        layers = False
    else:
        brush = gr.Brush(default_size=24, colors=[("#ffffff", 0.6)], color_mode="fixed")
        layers = gr.LayerOptions(allow_additional_layers=False, layers=["mask"])
    return gr.ImageEditor(type="pil", image_mode="RGBA", format="png", brush=brush, eraser=gr.Eraser(default_size=24),
                          layers=layers, elem_id=elem_id, height=480, sources=["upload", "clipboard"])


def require(value, message):
    if value is None or value == [] or value == "":
        raise gr.Error(message)
    return value


def require_editor(value, tab: str) -> dict:
    if not value or value.get("background") is None:
        raise gr.Error(f"Upload a picture on the {tab} tab first.")
    if value.get("composite") is None:
        value = dict(value, composite=value["background"])
    return value


def picture_of(value):
    if isinstance(value, dict):
        return value.get("composite") or value.get("background")
    return value


def steps_text(steps, strength) -> str:
    total, run = img2img_steps(int(steps), float(strength), False)
    if run == 0:
        return "Denoising strength 0: the picture comes back resized, without sampling."
    return f"Runs {run} of {total} steps at this denoising strength."


def size_text(image, resize_by, width, height, scale) -> str:
    if image is None:
        return ""
    if resize_by:
        w, h = scaled_size(image.width, image.height, float(scale))
    else:
        w, h = int(width) - int(width) % 8, int(height) - int(height) % 8
    return f"resize: from {image.width}x{image.height} to {w}x{h}"


def seed_from_infotext(infotext: str, current):
    try:
        return int(parse_generation_parameters(infotext)["Seed"])
    except (KeyError, ValueError, TypeError):
        return current


def selected_infotext(infotexts: List[str], evt: gr.SelectData) -> str:
    return infotexts[evt.index] if infotexts and evt.index < len(infotexts) else ""


def pasted_values(infotext: str, fields: List[str]) -> list:
    """The panel's values from an infotext; fields the text does not carry are left as they are."""
    p = parse_generation_parameters(infotext or "")
    keep = gr.update()

    def get(key, convert):
        try:
            return convert(p[key]) if key in p else keep
        except (TypeError, ValueError):
            return keep

    label = lambda choices: (lambda value: value if value in choices else keep)
    values = {
        "prompt": p.get("Prompt", keep) if infotext else keep,
        "negative_prompt": p.get("Negative prompt", keep) if infotext else keep,
        "seed": get("Seed", int), "sampler_name": get("Sampler", label(sampler_names())),
        "scheduler": get("Schedule type", label(list(SCHEDULES))), "steps": get("Steps", int),
        "cfg_scale": get("CFG scale", float), "width": get("Size-1", int), "height": get("Size-2", int),
        "denoising_strength": get("Denoising strength", float), "mask_blur": get("Mask blur", int),
        "mask_mode": get("Mask mode", label(MASK_MODES)),
        "inpainting_fill": get("Masked content", label(MASKED_CONTENT)),
        "inpaint_area": get("Inpaint area", label(INPAINT_AREAS)),
        "inpaint_full_res_padding": get("Masked area padding", int),
        "clip_skip": (get("Clip skip", int) if "Clip skip" in p else 1) if infotext else keep,  # absent: 1
    }
    return [values[f] for f in fields]


def build_blocks(engine: Engine, batch_roots: Sequence[str] = (), hide_dir_config: bool = False) -> gr.Blocks:
    return Page(engine, batch_roots, hide_dir_config).build()



"""The browser page: A1111's img2img tab on Gradio Blocks, a thin layer over modes/ and the services.

Six mode tabs in A1111's order (one table, tabs.MODE_TABS) share one parameter panel; Generate streams each picture
into the gallery as soon as it is saved, with a progress bar, the step count and ETA, and a live preview. Each user (a
login, else a browser) sees, and can interrupt, only their own jobs; a job waiting behind someone else's shows its
place in line. The Queue tab lists the jobs: all of them, and Interrupt for any, to an admin.
"""
from __future__ import annotations

import logging
from typing import Dict, Sequence

import gradio as gr

from pipelines import Services

from .controls import OPTION_PARAMS, control
from .endpoints import wire_generate
from .generate import Generation, progress_html
from .panel import UI_ONLY, build_parameters
from .png_info import build_png_info_tab
from .queue_tab import QueueView, caller
from .scripts import build_scripts
from .tabs import MODE_TABS, build_tab_inputs

log = logging.getLogger(__name__)

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

CSS = ("#progress_status progress {width: 100%; height: 14px;} "
       ".token-counter {font-size: 0.85em; opacity: 0.8; white-space: nowrap;} "
       "#preview img {width: 100%; height: 100%; object-fit: contain; image-rendering: auto;}")

Components = Dict[str, gr.components.Component]
OUTPUT_HEIGHT = 512


class Page:
    """Builds the Blocks over the services."""

    def __init__(self, services: Services, batch_roots: Sequence[str] = (), hide_dir_config: bool = False):
        self.services = services
        self.batch_options = dict(roots=list(batch_roots), hidden=hide_dir_config)
        self.generation = Generation(services, batch_roots, hide_dir_config)

    def build(self) -> gr.Blocks:
        models = self.services.models
        # uploads older than a day are deleted every hour (A1111 never cleans its temporary folder)
        with gr.Blocks(title="img2img", delete_cache=(3600, 86400)) as blocks:
            for notice in models.notices:
                gr.Markdown(f"**Note:** {notice}", elem_id="notice")
            top: Components = {}
            with gr.Row():
                checkpoint = gr.Dropdown(models.titles(), label="Stable Diffusion checkpoint", value=models.title,
                                         elem_id="checkpoint", scale=4)
                refresh = gr.Button("Refresh", scale=0, min_width=80)
                # per request, not server-wide: one person's VAE or Clip skip does not change another's pictures
                options = self.services.settings.options()
                top["sd_vae"] = gr.Dropdown(models.vae_choices(), value=options.sd_vae, label="SD VAE",
                                            elem_id="sd_vae", scale=2)
                top["clip_skip"] = control("CLIP_stop_at_last_layers", OPTION_PARAMS, elem_id="clip_skip", scale=2,
                                           value=options.CLIP_stop_at_last_layers)
            with gr.Tabs() as top_tabs:
                with gr.Tab("img2img", id="img2img_top"):
                    panel = self.build_img2img_tab(top)
                with gr.Tab("PNG Info", id="png_info_top"):
                    build_png_info_tab(panel, top_tabs)
                with gr.Tab("Queue", id="queue_top"):
                    QueueView(self.services).build()
            checkpoint.input(self.load_checkpoint, checkpoint, checkpoint, api_visibility="undocumented")
            refresh.click(lambda: (gr.update(choices=models.titles()), gr.update(choices=models.vae_choices()),
                                   gr.update(choices=self.services.prompts.style_names())),
                          None, [checkpoint, top["sd_vae"], panel["components"]["styles"]], **UI_ONLY)
        return blocks

    def load_checkpoint(self, title: str, request: gr.Request):
        if not caller(request)[1]:  # the checkpoint is everyone's: per job, "Override settings" can pick one
            raise gr.Error("Only an admin may change the server's checkpoint.")
        try:
            loaded = self.services.models.load(title)
        except Exception as e:  # a model that does not load leaves the old one in place
            raise gr.Error(str(e)) from None
        gr.Info(f"Loaded {loaded.title}")
        # a file is hashed when it loads: its title gains A1111's "[hash]"
        return gr.update(choices=self.services.models.titles(), value=loaded.title)

    def token_counter(self, prompt: str, steps) -> str:
        """A1111's "tokens / chunk size" next to a prompt box."""
        try:
            used, size = self.services.prompts.count_tokens(prompt, int(steps or 20))
        except Exception as e:  # the counter never gets in the way of typing
            log.debug("token count failed: %s", e)
            return ""
        return f"<span class='token-counter'>{used}/{size}</span>"

    def build_img2img_tab(self, top: Components) -> dict:
        c: Components = dict(top)
        mode = gr.State(0)
        buttons, counters = self.build_prompts(c)
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tabs(elem_id="mode_tabs") as mode_tabs:
                    tabs, copy_buttons = [], {}
                    for index, tab in enumerate(MODE_TABS):
                        with gr.Tab(tab.label, id=index) as tab_block:
                            build_tab_inputs(tab, c, self.batch_options)
                            if tab.picture:
                                copy_buttons[tab.picture] = self.copy_buttons()
                        tabs.append(tab_block)
                info = gr.Textbox(render=False, label="Generation info", lines=5, interactive=False,
                                  elem_id="generation_info")
                inpaint_group = build_parameters(c, info)
                build_scripts(c, self.services.choices)
            outputs = self.build_outputs(info)
        panel = {"components": c, "mode_tabs": mode_tabs, "mode": mode, "inpaint_group": inpaint_group}
        wire_generate(self.generation, c, mode, buttons, outputs)
        self.wire_token_counters(c, counters)
        for index, (tab, tab_block) in enumerate(zip(MODE_TABS, tabs)):
            tab_block.select(lambda i=index, t=tab: (i, gr.update(visible=t.inpaint), gr.update(visible=t.mask_alpha)),
                             None, [mode, inpaint_group, c["mask_alpha"]], **UI_ONLY)
        for name, row in copy_buttons.items():
            self.wire_copy(row, name, panel)
        return panel

    def build_prompts(self, c: Components):
        """The prompt boxes with their token counters, Generate, Interrupt, Skip and Styles."""
        with gr.Row():
            with gr.Column(scale=6):
                counters = {}
                for name, extra in (("prompt", {"placeholder": "Prompt (Ctrl+Enter to generate)"}),
                                    ("negative_prompt", {})):
                    with gr.Row():
                        c[name] = control(name, lines=3, scale=20, **extra)
                        counters[name] = gr.HTML(self.token_counter("", 20), min_width=60,
                                                 elem_id=name.replace("_prompt", "") + "_token_counter")
            with gr.Column(scale=1, min_width=160):
                buttons = {"generate": gr.Button("Generate", variant="primary", elem_id="generate_button")}
                with gr.Row():
                    buttons["interrupt"] = gr.Button("Interrupt", elem_id="interrupt_button", min_width=60)
                    buttons["skip"] = gr.Button("Skip", elem_id="skip_button", min_width=60)
                c["styles"] = control("styles", choices=self.services.prompts.style_names(), value=[])
        return buttons, counters

    def wire_token_counters(self, c: Components, counters: Dict[str, gr.HTML]) -> None:
        for name, counter in counters.items():
            for trigger in (c[name], c["steps"]):  # prompt editing makes the longest text depend on the steps
                trigger.change(self.token_counter, [c[name], c["steps"]], counter, show_progress="hidden", **UI_ONLY)

    @staticmethod
    def build_outputs(info: gr.Textbox) -> dict:
        with gr.Column(scale=1):
            status = gr.HTML(progress_html("Idle"), elem_id="progress_status")
            # The live preview at the gallery's size; the selected result whole (contained in the gallery's preview
            # area, never cropped), the others as thumbnails under it.
            preview = gr.Image(label="Live preview", interactive=False, height=OUTPUT_HEIGHT, elem_id="preview",
                               format="png", visible=False)
            gallery = gr.Gallery(label="Output", columns=4, format="png", elem_id="gallery", height=OUTPUT_HEIGHT,
                                 preview=True, object_fit="contain")
            info.render()
            infotexts = gr.State([])
        gallery.select(selected_infotext, infotexts, info, **UI_ONLY)
        # As A1111 shows them: the newest result whole in the gallery's preview, and the live preview only while
        # there is one (a job runs).
        gallery.change(lambda pictures: gr.Gallery(selected_index=len(pictures) - 1 if pictures else None), gallery,
                       gallery, show_progress="hidden", **UI_ONLY)
        preview.change(lambda picture: gr.Image(visible=picture is not None), preview, preview, show_progress="hidden",
                       **UI_ONLY)
        return {"gallery": gallery, "status": status, "preview": preview, "info": info, "infotexts": infotexts}

    @staticmethod
    def copy_buttons() -> Dict[str, gr.Button]:
        with gr.Row():
            gr.Markdown("Copy image to:")
            return {tab.picture: gr.Button(tab.label.lower(), size="sm") for tab in MODE_TABS if tab.picture}

    @staticmethod
    def wire_copy(buttons: Dict[str, gr.Button], source: str, panel: dict) -> None:
        c = panel["components"]
        for target, button in buttons.items():
            if target == source:
                button.visible = False
                continue
            index = next(i for i, tab in enumerate(MODE_TABS) if tab.picture == target)
            tab = MODE_TABS[index]

            def copy(value, index=index, tab=tab):
                picture = value.get("composite") or value.get("background") if isinstance(value, dict) else value
                if picture is None:
                    raise gr.Error("There is no picture to copy.")
                moved = picture if tab.canvas == "image" else {"background": picture, "layers": [],
                                                               "composite": picture}
                return (moved, gr.Tabs(selected=index), index, gr.update(visible=tab.inpaint),
                        gr.update(visible=tab.mask_alpha))

            button.click(copy, c[source], [c[target], panel["mode_tabs"], panel["mode"], panel["inpaint_group"],
                                           c["mask_alpha"]], **UI_ONLY)


def selected_infotext(infotexts, evt: gr.SelectData) -> str:
    return infotexts[evt.index] if infotexts and evt.index < len(infotexts) else ""

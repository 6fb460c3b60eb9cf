"""The PNG Info tab: a picture's parameters, and "Send to img2img / inpaint" pasting them into the panel."""
from __future__ import annotations

import gradio as gr

from pipelines.saving import read_infotext

from .controls import pasted_overrides, pasted_values
from .panel import UI_ONLY
from .scripts import SOFT, control_name
from .tabs import MODE_TABS

PASTED = ["prompt", "negative_prompt", "seed", "sampler_name", "scheduler", "steps", "cfg_scale", "width", "height",
          "denoising_strength", "mask_blur", "mask_mode", "inpainting_fill", "inpaint_area",
          "inpaint_full_res_padding", "clip_skip"]

SOFT_CONTROLS = {control_name(SOFT, name): param for name, param in SOFT.params().items()}  # soft inpainting's


def build_png_info_tab(panel: dict, top_tabs: gr.Tabs) -> None:
    c = panel["components"]
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Source", type="pil", format="png", elem_id="png_info_image")
        with gr.Column():
            text = gr.Textbox(label="Parameters", lines=8, interactive=False, elem_id="png_info_text")
            with gr.Row():
                buttons = {label: gr.Button(f"Send to {label}") for label in ("img2img", "inpaint")}
    image.change(lambda im: read_infotext(im) if im is not None else "", image, text, **UI_ONLY)
    for label, button in buttons.items():
        index = next(i for i, tab in enumerate(MODE_TABS) if tab.endpoint == label)
        tab = MODE_TABS[index]

        def paste(infotext, picture, tab=tab, index=index):
            moved = None
            if picture is not None:
                moved = picture if tab.canvas == "image" else {"background": picture, "layers": [],
                                                               "composite": picture}
            values = pasted_values(infotext, PASTED + list(SOFT_CONTROLS), SOFT_CONTROLS)
            return (*values, pasted_overrides(infotext), moved, gr.Tabs(selected="img2img_top"),
                    gr.Tabs(selected=index), index, gr.update(visible=tab.inpaint))

        button.click(paste, [text, image], [c[name] for name in PASTED + list(SOFT_CONTROLS)] + [
            c["override_settings"], c[tab.picture], top_tabs, panel["mode_tabs"], panel["mode"],
            panel["inpaint_group"]], **UI_ONLY)

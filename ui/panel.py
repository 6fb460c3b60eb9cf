"""The shared parameter panel under the mode tabs, each control made from its parameter's declaration, with
A1111's hints: the steps a denoising strength runs, and the size a picture is resized to."""
from __future__ import annotations

from typing import Dict

import gradio as gr

from pipelines import img2img_steps, parse_generation_parameters
from pipelines.imageops import scaled_size

from .controls import control
from .scripts import build_soft_inpainting

# Events the page itself uses: run at once, outside the queue, and not offered to API clients.
UI_ONLY = dict(queue=False, api_visibility="undocumented")


def build_parameters(c: Dict[str, gr.components.Component], info: gr.Textbox) -> gr.Group:
    """The panel's controls, added to `c` in the order gradio_client callers see them; returns the inpaint group
    (shown on the inpaint tabs)."""
    c["resize_mode"] = control("resize_mode")
    with gr.Group(visible=False) as inpaint_group:
        c["mask_blur"] = control("mask_blur", info=None)
        c["mask_alpha"] = gr.Slider(0, 100, value=0, step=1, label="Mask transparency", visible=False)
        c["mask_mode"] = control("inpainting_mask_invert")
        c["inpainting_fill"] = control("inpainting_fill")
        c["inpaint_area"] = control("inpaint_full_res")
        c["inpaint_full_res_padding"] = control("inpaint_full_res_padding")
        build_soft_inpainting(c)
    with gr.Row():
        c["sampler_name"] = control("sampler_name")
        c["scheduler"] = control("scheduler")
    c["steps"] = control("steps")
    build_size(c)
    with gr.Row():
        c["n_iter"] = control("n_iter")
        c["batch_size"] = control("batch_size")
    with gr.Row():  # unticked, the server's settings face_restoration and tiling decide
        c["restore_faces"] = control("restore_faces", info=None)
        c["tiling"] = control("tiling", info=None)
    c["cfg_scale"] = control("cfg_scale")
    c["denoising_strength"] = control("denoising_strength")
    steps_hint = gr.Markdown(steps_text(c["steps"].value, c["denoising_strength"].value), elem_id="steps_hint")
    for component in (c["steps"], c["denoising_strength"]):
        component.change(steps_text, [c["steps"], c["denoising_strength"]], steps_hint, **UI_ONLY)
    build_seed(c, info)
    c["override_settings"] = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, visible=False,
                                         label="Override settings", elem_id="override_settings",
                                         info="settings pasted from an infotext, for this job only")
    return inpaint_group


def build_size(c: Dict[str, gr.components.Component]) -> None:
    """"Resize to" a width and height, or "Resize by" a scale (whichever tab is selected), with the size hint."""
    c["resize_by"] = gr.State(False)
    with gr.Tabs():
        with gr.Tab("Resize to") as resize_to_tab:
            with gr.Row():
                c["width"] = control("width")
                c["height"] = control("height")
        with gr.Tab("Resize by") as resize_by_tab:
            c["scale_by"] = control("scale_by", info=None)
    size_hint = gr.Markdown("", elem_id="size_hint")
    resize_to_tab.select(lambda: False, None, c["resize_by"], **UI_ONLY)
    resize_by_tab.select(lambda: True, None, c["resize_by"], **UI_ONLY)
    hint_inputs = [c["init_img"], c["resize_by"], c["width"], c["height"], c["scale_by"]]
    for component in hint_inputs:
        component.change(size_text, hint_inputs, size_hint, **UI_ONLY)


def build_seed(c: Dict[str, gr.components.Component], info: gr.Textbox) -> None:
    with gr.Row():
        c["seed"] = control("seed", scale=4, info=None)
        random_seed = gr.Button("Random", min_width=60, scale=0)
        reuse_seed = gr.Button("Reuse", min_width=60, scale=0, elem_id="reuse_seed")
        c["seed_extras"] = gr.Checkbox(False, label="Extra", scale=0, min_width=80)
    with gr.Group(visible=False) as seed_extras:
        with gr.Row():
            c["subseed"] = control("subseed")
            c["subseed_strength"] = control("subseed_strength")
        with gr.Row():
            c["seed_resize_from_w"] = control("seed_resize_from_w", info=None)
            c["seed_resize_from_h"] = control("seed_resize_from_h", info=None)
    c["seed_extras"].change(lambda on: gr.update(visible=on), c["seed_extras"], seed_extras, **UI_ONLY)
    random_seed.click(lambda: -1, None, c["seed"], **UI_ONLY)
    reuse_seed.click(seed_from_infotext, [info, c["seed"]], c["seed"], **UI_ONLY)


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

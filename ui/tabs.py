"""The mode tabs, driven by one table: each tab's label, its gradio_client endpoint, how its inputs become a Job
(modes/), the kind of canvas it shows, and whether the inpaint settings apply to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import gradio as gr

import modes
from pipelines import ImageInputError, Job, JobError


@dataclass(frozen=True)
class ModeTab:
    label: str
    endpoint: str  # gradio_client's api_name
    canvas: str  # "image": an upload box, "sketch": a colour canvas, "mask": a mask brush, "pair": picture and
    #               mask uploads, "batch": files or folders
    inpaint: bool  # the inpaint settings apply (Batch: they apply when a mask folder is given)
    make_job: Optional[Callable[[dict, dict], Job]] = None  # (the page's values, Job parameters) -> Job
    picture: Optional[str] = None  # the component holding its picture, for "Copy image to" and PNG info

    @property
    def mask_alpha(self) -> bool:
        """Inpaint sketch's "Mask transparency"."""
        return self.canvas == "sketch" and self.inpaint


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


def img2img_job(v: dict, params: dict) -> Job:
    return modes.img2img.make_job(require(v["init_img"], "Upload a picture on the img2img tab first."), **params)


def sketch_job(v: dict, params: dict) -> Job:
    return modes.sketch.make_job(require_editor(v["sketch"], "Sketch")["composite"], **params)


def inpaint_job(v: dict, params: dict) -> Job:
    editor = require_editor(v["inpaint"], "Inpaint")
    return modes.inpaint.make_job(editor["background"], editor.get("layers") or [], **params)


def inpaint_sketch_job(v: dict, params: dict) -> Job:
    editor = require_editor(v["inpaint_sketch"], "Inpaint sketch")
    return modes.inpaint_sketch.make_job(editor["background"], editor["composite"], mask_alpha=float(v["mask_alpha"]),
                                         **params)


def inpaint_upload_job(v: dict, params: dict) -> Job:
    image = require(v["upload_image"], "Upload a picture on the Inpaint upload tab first.")
    mask = require(v["upload_mask"], "Upload a mask on the Inpaint upload tab first.")
    return modes.inpaint_upload.make_job(image, mask, **params)


MODE_TABS = (
    ModeTab("img2img", "img2img", "image", False, img2img_job, "init_img"),
    ModeTab("Sketch", "sketch", "sketch", False, sketch_job, "sketch"),
    ModeTab("Inpaint", "inpaint", "mask", True, inpaint_job, "inpaint"),
    ModeTab("Inpaint sketch", "inpaint_sketch", "sketch", True, inpaint_sketch_job, "inpaint_sketch"),
    ModeTab("Inpaint upload", "inpaint_upload", "pair", True, inpaint_upload_job),
    ModeTab("Batch", "batch", "batch", True),
)


def make_job(tab: ModeTab, values: dict, params: dict) -> Job:
    """The tab's inputs -> its Job; a clear gr.Error for missing or bad input."""
    try:
        return tab.make_job(values, params)
    except (ImageInputError, JobError) as e:
        raise gr.Error(str(e)) from None


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


def build_tab_inputs(tab: ModeTab, c: Dict[str, gr.components.Component], batch_dir_options: dict) -> None:
    """The tab's own inputs, added to `c` under the names gradio_client callers use."""
    if tab.canvas == "image":
        c["init_img"] = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA", format="png",
                                 elem_id="img2img_image", height=480)
    elif tab.canvas in ("sketch", "mask"):
        c[tab.picture] = editor(f"{tab.picture}_editor", colour=tab.canvas == "sketch")
    elif tab.canvas == "pair":
        c["upload_image"] = gr.Image(label="Image", type="pil", format="png", elem_id="upload_image")
        c["upload_mask"] = gr.Image(label="Mask (white or opaque: repaint)", type="pil", image_mode="RGBA",
                                    format="png", elem_id="upload_mask")
    else:
        build_batch_inputs(c, **batch_dir_options)


def build_batch_inputs(c: Dict[str, gr.components.Component], roots: List[str], hidden: bool) -> None:
    from modes.batch_png_info import PNG_INFO_FIELDS
    c["batch_from_dir"] = gr.State(False)
    with gr.Tabs():
        with gr.Tab("Upload") as upload_tab:
            c["batch_files"] = gr.File(label="Pictures", file_count="multiple", type="filepath", elem_id="batch_files")
        with gr.Tab("From directory", visible=not hidden) as dir_tab:
            gr.Markdown(f"Folders must lie inside: `{', '.join(roots)}`. The output keeps each picture's sub-folder "
                        "and name; a rerun skips pictures already done.")
            c["batch_input_dir"] = gr.Textbox(label="Input directory", elem_id="batch_input_dir")
            c["batch_output_dir"] = gr.Textbox(label="Output directory", elem_id="batch_output_dir",
                                               placeholder="Leave empty to save to outputs/img2img-images/<date>/")
            c["batch_mask_dir"] = gr.Textbox(label="Inpaint batch mask directory (masks matched by file name; one "
                                                   "file: for every picture)", elem_id="batch_mask_dir")
            c["batch_resume"] = gr.Checkbox(True, label="Skip pictures whose outputs exist")
            with gr.Accordion("PNG info", open=False):
                c["batch_png_info"] = gr.Checkbox(False, label="Append png info to prompts")
                c["batch_png_info_dir"] = gr.Textbox(label="PNG info directory",
                                                     placeholder="Leave empty to use input directory")
                c["batch_png_info_fields"] = gr.CheckboxGroup(list(PNG_INFO_FIELDS),
                                                              label="Parameters to take from png info")
    upload_tab.select(lambda: False, None, c["batch_from_dir"], queue=False, api_visibility="undocumented")
    dir_tab.select(lambda: True, None, c["batch_from_dir"], queue=False, api_visibility="undocumented")

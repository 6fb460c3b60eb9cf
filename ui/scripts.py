"""A1111's Script dropdown under the parameters: "None" or a script, whose controls (made from its arguments'
declaration) show when it is chosen; the chosen script's values become the job's `script_name` and `script_args`."""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List

import gradio as gr

from pipelines import Param
from pipelines.scripts import ALWAYSON, SELECTABLE, Script

from .controls import control

UI_ONLY = dict(queue=False, api_visibility="undocumented")
NO_SCRIPT = "None"


def control_name(script: type, name: str) -> str:
    """The page's (and gradio_client's) name of a script's argument, e.g. `sd_upscale_overlap`."""
    return re.sub(r"[^a-z0-9]+", "_", script.key()).strip("_") + "_" + name


def script_control(param: Param, name: str, elem_id: str, choices_for: Callable[[str], List[str]]):
    """A control for a script's argument: a list the server knows as a dropdown, an index into words as a
    dropdown of the words, words to tick as checkboxes, else the panel's kind of control."""
    if param.choices_from:
        listed = choices_for(param.choices_from)
        value = param.default if param.default in listed else listed[0] if listed else None
        return gr.Dropdown(listed, value=value, label=param.label, elem_id=elem_id)
    if param.is_integer and param.choices and not isinstance(param.choices, type):
        labels = list(param.choice_list())
        return gr.Dropdown(labels, value=labels[int(param.default)], type="index", label=param.label,
                           elem_id=elem_id)
    if param.type is list and param.choices:
        return gr.CheckboxGroup(list(param.choice_list()), value=list(param.default), label=param.label,
                                elem_id=elem_id)
    return control(name, {name: param}, elem_id=elem_id)


def build_scripts(c: Dict[str, gr.components.Component], choices_for: Callable[[str], List[str]]) -> None:
    """The Script dropdown and each script's controls (hidden until it is chosen), added to `c`."""
    c["script_name"] = gr.Dropdown([NO_SCRIPT] + [s.title for s in SELECTABLE], value=NO_SCRIPT, label="Script",
                                   elem_id="script_list")
    groups = []
    for script in SELECTABLE:
        with gr.Group(visible=False, elem_id=control_name(script, "group")) as group:
            for name, param in script.params().items():
                if param.page:
                    c[control_name(script, name)] = script_control(param, name, control_name(script, name),
                                                                   choices_for)
                elif name == "info" and param.help:
                    gr.Markdown(param.help)
        groups.append(group)
    c["script_name"].change(lambda chosen: [gr.update(visible=chosen == s.title) for s in SELECTABLE],
                            c["script_name"], groups, **UI_ONLY)


SOFT = ALWAYSON["soft inpainting"]


def build_soft_inpainting(c: Dict[str, gr.components.Component]) -> None:
    """A1111's Soft inpainting accordion: its switch and six sliders, added to `c` as `soft_inpainting_<name>`."""
    with gr.Accordion("Soft inpainting", open=False, elem_id="soft_inpainting"):
        gr.Markdown("Blends the original with the inpainted content by the mask's opacity; a high **Mask blur** is "
                    "recommended.")
        for name, param in SOFT.params().items():
            c[control_name(SOFT, name)] = control(name, {name: param}, elem_id=control_name(SOFT, name))


def alwayson_params(values: Dict[str, Any]) -> Dict[str, Any]:
    """`alwayson_scripts` with soft inpainting's arguments when its switch is on (it acts only on a masked job)."""
    args = [values.get(control_name(SOFT, name)) for name in SOFT.params()]
    return {"alwayson_scripts": {SOFT.key(): {"args": args}}} if args and args[0] else {}


def script_params(values: Dict[str, Any]) -> Dict[str, Any]:
    """`script_name` and the chosen script's `script_args` in A1111's order (arguments without a control take
    their defaults)."""
    chosen = values.get("script_name") or NO_SCRIPT
    script: Script = next((s for s in SELECTABLE if s.title == chosen), None)
    if script is None:
        return {}
    args = [values.get(control_name(script, name)) if param.page else None
            for name, param in script.params().items()]
    return {"script_name": script.title, "script_args": args}

"""The page's controls made from the parameters' one declaration (pipelines.params), and the page's values turned
back into Job parameters."""
from __future__ import annotations

from typing import Any, Dict, Optional

import gradio as gr

from pipelines import Job, Options, Param, declared, parse_generation_parameters

JOB_PARAMS = declared(Job)
OPTION_PARAMS = declared(Options)
SEED_EXTRAS = ("subseed", "subseed_strength", "seed_resize_from_w", "seed_resize_from_h")


def ui_name(name: str, param: Param) -> str:
    return param.ui_name or name


def control(name: str, params: Dict[str, Param] = JOB_PARAMS, **layout) -> gr.components.Component:
    """A Gradio control for a declared parameter: a slider with its page range, a radio of an enum's labels, a
    dropdown of its choices, a number, a checkbox or a text box; `layout` adds or replaces Gradio arguments."""
    param = params[name]
    value = param.ui_value
    kwargs: Dict[str, Any] = dict(label=param.label, elem_id=ui_name(name, param))
    if param.help:
        kwargs["info"] = param.help
    if param.ui is not None:
        low, high, step = param.ui
        component, kwargs = gr.Slider, dict(kwargs, minimum=low, maximum=high, step=step, value=value)
    elif param.is_number and param.choice_list() or param.type is bool and param.choices is not None:
        labels = param.choice_list()
        component, kwargs = gr.Radio, dict(kwargs, choices=labels, value=labels[int(value)], type="index")
    elif param.choices is not None:
        component, kwargs = gr.Dropdown, dict(kwargs, choices=list(param.choice_list()), value=value)
    elif param.is_number:
        component, kwargs = gr.Number, dict(kwargs, value=value, precision=0 if param.type is int else None)
    elif param.type is bool:
        component, kwargs = gr.Checkbox, dict(kwargs, value=value)
    elif param.type is list:
        component, kwargs = gr.Dropdown, dict(kwargs, value=list(value), multiselect=True)
    else:
        component, kwargs = gr.Textbox, dict(kwargs, value=value)
    return component(**dict(kwargs, **layout))


def job_params(values: Dict[str, Any]) -> Dict[str, Any]:
    """The Job parameters the page's values say. The page's own rules: "Resize to" or "Resize by" (whichever tab
    is selected), the seed extras only while "Extra" is ticked (a slider's 0 is "off"), and the SD VAE and Clip skip
    chosen at the top applying to this job alone."""
    params = {name: param.convert(values[ui_name(name, param)])
              for name, param in JOB_PARAMS.items() if param.page and ui_name(name, param) in values}
    for name in ("width", "height") if values["resize_by"] else ("scale_by",):
        params.pop(name)
    if values["seed_extras"]:
        params.update(seed_resize_from_w=params["seed_resize_from_w"] or -1,
                      seed_resize_from_h=params["seed_resize_from_h"] or -1)
    else:
        for name in SEED_EXTRAS:
            params.pop(name)
    for name in ("restore_faces", "tiling"):  # unticked: the server's setting decides, as on A1111's page
        params[name] = params.get(name) or None
    params["override_settings"] = dict(override_settings(values.get("override_settings")), sd_vae=values["sd_vae"],
                                       CLIP_stop_at_last_layers=int(values["clip_skip"]))
    return params


# Settings an infotext carries (ENSD, RNG, Eta, Noise multiplier ...) by their key; Clip skip has its own control.
SETTING_KEYS = {p.infotext: name for name, p in OPTION_PARAMS.items()
                if p.infotext and name != "CLIP_stop_at_last_layers"}


def pasted_overrides(infotext: str):
    """A1111's "Override settings" after a paste: the infotext's settings that differ from their defaults, as
    `Key: value` entries, all chosen."""
    found = parse_infotext(infotext)
    entries = [f"{key}: {found[key]}" for key, name in SETTING_KEYS.items()
               if key in found and str(found[key]) != str(OPTION_PARAMS[name].default)]
    return gr.update(choices=entries, value=entries, visible=bool(entries))


def override_settings(entries) -> Dict[str, Any]:
    """The chosen `Key: value` entries as option values (checked and converted with the job's settings)."""
    settings: Dict[str, Any] = {}
    for entry in entries or []:
        key, _, value = str(entry).partition(": ")
        name = SETTING_KEYS.get(key.strip())
        if name is not None:
            is_bool = OPTION_PARAMS[name].type is bool
            settings[name] = value.strip().lower() == "true" if is_bool else value.strip()
    return settings


def pasted_values(infotext: str, names, more: Optional[Dict[str, Param]] = None) -> list:
    """The page's values for the controls `names` from an infotext; what the text does not carry is left as it
    is (a gr.update() that changes nothing). `more`: other controls' parameters by their names (a script's)."""
    found = parse_infotext(infotext)
    by_ui_name = {ui_name(n, p): p for params in (JOB_PARAMS, OPTION_PARAMS) for n, p in params.items()}
    by_ui_name["clip_skip"] = OPTION_PARAMS["CLIP_stop_at_last_layers"]
    by_ui_name.update(more or {})
    return [pasted(by_ui_name[name], found) for name in names]


def parse_infotext(infotext: str) -> dict:
    return parse_generation_parameters(infotext) if infotext else {}


def pasted(param: Param, found: dict):
    keep = gr.update()
    if param.infotext not in found:
        return keep
    value = found[param.infotext]
    try:
        if param.choice_list():
            return value if value in param.choice_list() else keep
        return param.from_infotext(value)
    except (TypeError, ValueError):
        return keep

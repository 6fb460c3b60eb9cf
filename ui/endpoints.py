"""Generate, Interrupt and Skip, and one named gradio_client endpoint per mode (`/img2img`, `/sketch`, ...), each
taking the panel's values as named parameters with the panel's defaults."""
from __future__ import annotations

import inspect
from typing import Dict, List, Optional

import gradio as gr

from .generate import Generation
from .panel import UI_ONLY
from .tabs import MODE_TABS


def endpoint(generation: Generation, names: List[str], defaults: Dict[str, object], fixed_mode: Optional[int]):
    """A generator for Gradio whose signature names every panel value (and `mode` first, without a fixed mode)."""
    def run(*args):
        *args, request = args  # Gradio passes the request last, where the signature below declares it
        mode, values = (fixed_mode, args) if fixed_mode is not None else (args[0], args[1:])
        yield from generation.generate(mode, dict(zip(names, values)), request)

    parameters = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[n]) for n in names]
    if fixed_mode is None:
        parameters.insert(0, inspect.Parameter("mode", inspect.Parameter.POSITIONAL_OR_KEYWORD))
    parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=gr.Request))
    run.__signature__ = inspect.Signature(parameters)
    run.__annotations__ = {"request": gr.Request}  # Gradio finds the request by its type hint
    return run


def wire_generate(generation: Generation, c: dict, mode: gr.State, buttons: dict, out: dict) -> None:
    names = list(c)
    inputs = [c[n] for n in names]
    defaults = {n: c[n].value for n in names}
    outputs = [out["gallery"], out["status"], out["preview"], out["info"], out["infotexts"]]
    any_mode = endpoint(generation, names, defaults, None)
    # The page's own progress line, preview and gallery show how a job goes: no Gradio overlay over them.
    streaming = dict(concurrency_limit=None, show_progress="hidden")
    buttons["generate"].click(any_mode, [mode] + inputs, outputs, api_name="generate", **streaming)
    c["prompt"].submit(any_mode, [mode] + inputs, outputs, api_visibility="undocumented", **streaming)
    for index, tab in enumerate(MODE_TABS):
        hidden = gr.Button(visible=False)
        hidden.click(endpoint(generation, names, defaults, index), inputs, outputs, api_name=tab.endpoint,
                     **streaming)
    buttons["interrupt"].click(generation.interrupt, None, None, **UI_ONLY)
    buttons["skip"].click(generation.skip, None, None, **UI_ONLY)

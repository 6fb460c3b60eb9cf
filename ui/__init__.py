"""The Gradio page: A1111's img2img tab over the services (see page.py)."""
from typing import Sequence

import gradio as gr

from pipelines import Services

from .page import CSS, KEYS_JS, Page


def build_page(services: Services, batch_roots: Sequence[str] = (), hide_dir_config: bool = False) -> gr.Blocks:
    """The page. Who each request is, and whether an admin, comes from the server's guard (access.py)."""
    return Page(services, batch_roots, hide_dir_config).build()


__all__ = ["CSS", "KEYS_JS", "build_page"]

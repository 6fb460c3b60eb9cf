"""The Gradio page: A1111's img2img tab over the services (see page.py)."""
from typing import Iterable, Sequence

import gradio as gr

from pipelines import Services

from .page import CSS, KEYS_JS, Page


def build_page(services: Services, batch_roots: Sequence[str] = (), hide_dir_config: bool = False,
               admins: Iterable[str] = (), logins: bool = False) -> gr.Blocks:
    """The page; `admins`: logged-in users who may switch the server's checkpoint (without `logins`, this machine's
    own browser may)."""
    return Page(services, batch_roots, hide_dir_config, admins, logins).build()


__all__ = ["CSS", "KEYS_JS", "build_page"]

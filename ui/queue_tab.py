"""The Queue tab: the jobs waiting and running, with who sent them, how far they are and which worker runs them, and
Interrupt; the workers, with their device, loaded model and current job. An admin sees and stops everyone's jobs;
anyone else sees and stops their own (never another user's prompts or pictures)."""
from __future__ import annotations

from typing import List, Optional, Tuple

import gradio as gr

from pipelines import Services

from .panel import UI_ONLY

COLUMNS = ["Owner", "State", "Step", "Worker"]
WORKER_COLUMNS = ["Worker", "Device", "Model", "Where", "Job of", "Step"]


def caller(request: Optional[gr.Request]) -> Tuple[Optional[str], bool]:
    """Who a page request is, as the server's guard (access.py) named it, and whether it is an admin. Without the
    guard (the page served on its own), each browser session is its own user and nobody is an admin."""
    if request is None:
        return None, False
    state = getattr(request, "state", None)
    return getattr(state, "owner", None) or request.session_hash, bool(getattr(state, "admin", False))


class QueueView:
    def __init__(self, services: Services):
        self.services = services

    def build(self) -> None:
        table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, elem_id="queue_table",
                             label="Jobs waiting and running")
        with gr.Row():
            whose = gr.Dropdown(label="Jobs of", choices=[], elem_id="queue_owner", scale=4)
            refresh = gr.Button("Refresh", elem_id="queue_refresh", scale=0, min_width=80)
            stop = gr.Button("Interrupt their jobs", variant="stop", elem_id="queue_interrupt", scale=1)
        workers = gr.Dataframe(headers=WORKER_COLUMNS, value=[], interactive=False, elem_id="workers_table",
                               label="Workers")
        refresh.click(self.view, None, [table, whose, workers], **UI_ONLY)
        stop.click(self.interrupt, whose, [table, whose, workers], **UI_ONLY)

    def jobs(self, request: Optional[gr.Request]) -> List[dict]:
        owner, admin = caller(request)
        jobs = self.services.queue.overview()
        return jobs if admin else [job for job in jobs if job["owner"] == owner]

    def view(self, request: gr.Request):
        jobs = self.jobs(request)
        rows = [[job["owner"], "running" if job["running"] else f"waiting, {job['position']} ahead",
                 f"{job['step']}/{job['steps']}", job["worker"] if job["running"] else ""] for job in jobs]
        owners = list(dict.fromkeys(job["owner"] for job in jobs))
        return rows, gr.update(choices=owners, value=owners[0] if owners else None), self.workers(request)

    def workers(self, request: Optional[gr.Request]) -> List[list]:
        """Each worker; whose job it runs is shown to an admin, and to the owner of that job."""
        owner, admin = caller(request)
        rows = []
        for state in self.services.queue.worker_states():
            busy = state["owner"] is not None
            mine = admin or state["owner"] == owner
            rows.append([state["name"], state["device"], state["model"] or "", state["where"],
                         (state["owner"] if mine else "another user") if busy else "",
                         f"{state['step']}/{state['steps']}" if busy and mine else ""])
        return rows

    def interrupt(self, whose: Optional[str], request: gr.Request):
        owner, admin = caller(request)
        if not whose:
            raise gr.Error("Choose whose jobs to interrupt (Refresh lists them).")
        if whose != owner and not admin:
            raise gr.Error("Only an admin may interrupt another user's jobs.")
        self.services.queue.interrupt(whose)
        gr.Info(f"Interrupted the jobs of {whose}")
        return self.view(request)

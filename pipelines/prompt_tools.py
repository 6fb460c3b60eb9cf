"""Prompt tools for the page and the API: A1111's styles (styles.csv) and the token counter."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

from .conditioning import prompt_token_count
from .job import Job
from .model_manager import ModelManager
from .prompts import Style, StyleDatabase
from .settings import SettingsStore


class PromptTools:
    def __init__(self, styles: StyleDatabase, models: ModelManager, settings: SettingsStore):
        self._styles, self.models, self.settings = styles, models, settings

    def styles(self) -> Dict[str, Style]:
        return self._styles.styles()

    def style_names(self) -> List[str]:
        return list(self._styles.styles())

    def apply_styles(self, job: Job) -> Job:
        """The job with its styles merged into its prompts (A1111's `{prompt}` placeholder, else ", ")."""
        if not job.styles:
            return job
        prompt, negative_prompt = self._styles.apply(job.prompt, job.negative_prompt, job.styles)
        return dataclasses.replace(job, prompt=prompt, negative_prompt=negative_prompt)

    def count_tokens(self, prompt: str, steps: int = 20) -> Tuple[int, int]:
        """(tokens, chunk size) for the page's counter; (0, 75) while no model is loaded."""
        model = self.models.model
        if model is None:
            return 0, 75
        embeddings, _ = self.models.embeddings()
        return prompt_token_count(model, prompt or "", max(1, int(steps)), self.settings.options().emphasis,
                                  embeddings)

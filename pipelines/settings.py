"""The settings page's values (A1111's option keys), kept in a JSON file (A1111's config.json) and turned into the
`Options` jobs run with. GET /options answers A1111's whole option set; keys this project does not use are kept and
returned as they were set, since A1111 clients round-trip whole option dicts."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from typing import Any, Dict, Optional

from .job import Options

log = logging.getLogger(__name__)

# Settings the web layers read themselves (not the pipeline).
SERVER_DEFAULTS: Dict[str, Any] = {
    "sd_model_checkpoint": None,
    "api_enable_requests": False,  # fetch http(s) init images named in API requests (never private addresses)
    "img2img_batch_show_results_limit": 32,  # the page's gallery shows the first N batch results (-1: all)
}


def a1111_defaults() -> Dict[str, Any]:
    """A1111's whole option set with A1111's defaults (clients read keys such as `send_seed`), from the data file."""
    with open(os.path.join(os.path.dirname(__file__), "data", "a1111_options.json"), encoding="utf-8") as f:
        return json.load(f)


# Settings that change the server for everyone beyond pictures: only an admin may set them (A1111's restricted
# options, URL fetching, the server's checkpoint).
ADMIN_ONLY = {"api_enable_requests", "api_forbid_local_requests", "api_useragent", "sd_model_checkpoint", "temp_dir",
              "samples_filename_pattern", "directories_filename_pattern", "grid_zip_filename_pattern"}


def admin_only(keys) -> list:
    """The keys among `keys` that only an admin may change (the output paths too)."""
    return [k for k in keys if k in ADMIN_ONLY or k.startswith("outdir_") or k == "outdir_samples"]


class SettingsStore:
    def __init__(self, path: Optional[str] = None):
        self.path = path
        self._lock = threading.Lock()
        # A1111's keys and defaults, then this server's own where it differs (a safer default, a setting it adds)
        self._defaults = a1111_defaults() | dict(SERVER_DEFAULTS) | dataclasses.asdict(Options())
        self.values: Dict[str, Any] = dict(self._defaults)
        if path and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    saved = json.load(f)
                self.values.update(saved)
                self.options()  # refuse a file whose known values are unusable
            except (OSError, ValueError) as e:
                log.warning("ignoring the settings file %s: %s", path, e)
                self.values = dict(self._defaults)

    def options(self) -> Options:
        return Options().with_overrides(self.values)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def update(self, changes: Dict[str, Any]) -> None:
        """Check the known keys (JobError naming the bad one), apply, and save atomically."""
        with self._lock:
            merged = dict(self.values, **changes)
            checked = dataclasses.asdict(Options().with_overrides(merged))
            merged.update({k: checked[k] for k in changes if k in checked})
            self.values = merged
            self._save()

    def _save(self) -> None:
        if not self.path:
            return
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.values, f, indent=2, ensure_ascii=False)
        os.replace(tmp, self.path)

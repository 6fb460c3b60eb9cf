"""Sharing on a LAN (issue 13's regressions): who a caller is, what a URL may reach, how much a request may cost."""
import threading
import time

import pytest
import requests

from tests.api.test_api import SMALL, b64, post
from tests.helpers import noise_image
from tests.server import app_server


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lan-api")
    with app_server(str(tmp), "--api") as (url, _):
        yield url + "/sdapi/v1", tmp


def test_a_forwarded_header_does_not_change_who_the_caller_is(api):
    """Without --forwarded-allow-ips, X-Forwarded-For is ignored: a job sent under a spoofed address is the sender's
    own (and a victim's address cannot be borrowed to watch or stop their job)."""
    body = dict(SMALL, init_images=[b64(noise_image(256, 256))], width=256, height=256, steps=150,
                denoising_strength=1.0)
    done = {}
    sender = threading.Thread(target=lambda: done.update(r=requests.post(
        f"{api[0]}/img2img", json=body, headers={"X-Forwarded-For": "10.9.9.9"}, timeout=300)))
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = requests.get(f"{api[0]}/progress", timeout=10).json()["state"]
            if state["sampling_steps"]:
                break
            time.sleep(0.2)
        assert state["sampling_steps"], "the spoofed job should be the loopback caller's own"
    finally:
        requests.post(f"{api[0]}/interrupt", timeout=10)
        sender.join(120)
    assert done["r"].status_code == 200

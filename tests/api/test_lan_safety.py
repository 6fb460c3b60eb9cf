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


@pytest.fixture()
def listener():
    """A local HTTP listener that counts the connections it gets (none must come)."""
    import socket as socket_module
    server = socket_module.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    hits, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            hits.append(connection.recv(1024))
            connection.close()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join(5)
    server.close()


def test_no_url_spelling_reaches_the_server_itself(api, listener):
    port, hits = listener
    post(api, "options", {"api_enable_requests": True})
    try:
        for url in [f"http://127.0.0.1:{port}/x.png", f"http://localhost:{port}/x.png", f"http://127.1:{port}/x.png",
                    f"http://2130706433:{port}/x.png", f"http://0x7f000001:{port}/x.png",
                    f"http://0177.0.0.1:{port}/x.png", f"http://0.0.0.0:{port}/x.png",
                    f"http://[::ffff:127.0.0.1]:{port}/x.png", f"http://[::1]:{port}/x.png",
                    f"http://127.0.0.1:{port}\\@1.1.1.1/x.png", f"http://user@127.0.0.1:{port}/x.png",
                    f"http://127.0.0.1:{port}#@1.1.1.1/x.png", f"http://127.0.0.1:{port} @1.1.1.1/x.png"]:
            error = post(api, "img2img", dict(SMALL, init_images=[url]), 422)
            assert "init_images[0]" in error["detail"], (url, error)
        assert hits == []
    finally:
        post(api, "options", {"api_enable_requests": False})


def test_an_allowed_url_is_fetched_from_the_address_that_was_checked(monkeypatch):
    """The name is resolved once and the connection goes to that address, with the URL's Host: a second answer
    from DNS (rebinding) cannot send it elsewhere. (The resolver and the connection are stubbed: nothing leaves.)"""
    from api import fetch
    answers = iter([[(2, 1, 6, "", ("93.184.216.34", 80))], [(2, 1, 6, "", ("127.0.0.1", 80))]])
    monkeypatch.setattr(fetch.socket, "getaddrinfo", lambda *a, **k: next(answers))
    seen = {}

    def download(target, address, what):
        seen.update(address=address, host=target.host, path=target.path)
        return b"bytes"
    monkeypatch.setattr(fetch, "download", download)
    assert fetch.fetch_url("http://images.invalid/a/b.png?x=1", "init_images[0]", True) == b"bytes"
    assert seen == {"address": "93.184.216.34", "host": "images.invalid", "path": "/a/b.png?x=1"}

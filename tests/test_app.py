"""The entry point as a user starts it: a real server process on 127.0.0.1, reached over HTTP and by gradio_client."""
import io
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from gradio_client import Client, handle_file
from PIL import Image

from tests.helpers import noise_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    outdir = tmp_path_factory.mktemp("app-outputs")
    log = open(tmp_path_factory.mktemp("app-log") / "server.log", "w+")
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--outdir", str(outdir),
                                "--ckpt-dir", str(tmp_path_factory.mktemp("empty-models"))],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited while starting"
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("the server did not answer within 120 s")
        yield url, outdir, log
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_server_starts_on_the_builtin_model_with_a_notice(server):
    url, _, log = server
    assert requests.get(url + "/health", timeout=5).json() == {"status": "ok", "model": "builtin:tiny"}
    page = requests.get(url + "/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    log.flush()
    log.seek(0)
    text = log.read()
    assert f"Running on local URL:  {url}" in text
    assert "built-in tiny model" in text


def test_gradio_client_runs_img2img(server, tmp_path):
    url, outdir, _ = server
    source = tmp_path / "in.png"
    noise_image(96, 64).save(source)
    client = Client(url, verbose=False)
    gallery, info = client.predict(handle_file(str(source)), "a cat", "", "Euler a", 4, 7, 0.75, 12, 64, 64,
                                   api_name="/img2img")
    assert len(gallery) == 1
    result = Image.open(gallery[0]["image"])
    assert result.size == (64, 64)
    assert "Seed: 12," in info and "Sampler: Euler a," in info
    saved = [f for _, _, files in os.walk(outdir) for f in files if f.endswith("-12.png")]
    assert len(saved) == 1

"""The entry point as a user starts it: a real server process on 127.0.0.1, reached over HTTP and by gradio_client."""
import os

import pytest
import requests
from gradio_client import Client, handle_file
from PIL import Image

from tests.helpers import noise_image
from tests.server import app_server

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    with app_server(str(tmp)) as (url, log_path):
        yield url, tmp / "outputs", log_path


def test_the_server_starts_on_the_builtin_model_with_a_notice(server):
    url, _, log_path = server
    assert requests.get(url + "/health", timeout=5).json() == {"status": "ok", "model": "builtin:tiny"}
    page = requests.get(url + "/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert requests.get(url + "/sdapi/v1/samplers", timeout=5).status_code == 404  # no API without --api
    text = open(log_path).read()
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

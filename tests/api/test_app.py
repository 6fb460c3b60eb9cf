"""The entry point as a user starts it: a real server process on 127.0.0.1 (gradio_client: test_ui.py)."""

import pytest
import requests

from tests.server import app_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    with app_server(str(tmp)) as (url, log_path):
        yield url, tmp / "outputs", log_path


def test_the_server_starts_on_the_builtin_model_with_a_notice(server):
    url, _, log_path = server
    assert requests.get(url + "/health", timeout=5).json() == {"status": "ok"}  # says nothing more without a login
    page = requests.get(url + "/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert requests.get(url + "/sdapi/v1/samplers", timeout=5).status_code == 404  # no API without --api
    text = open(log_path).read()
    assert f"Running on local URL:  {url}" in text
    assert "built-in tiny model" in text

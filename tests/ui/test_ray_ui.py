"""The page on a server with two Ray workers (issue 15): two browsers generate at once, each progress line names the
worker its job runs on, and each gallery fills with its own pictures."""
import time

import pytest

from tests.helpers import noise_image
from tests.server import app_server
from tests.ui.browser import RESULTS, needs_chromium, set_number

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def ray_server(ray_address, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray-ui")
    with app_server(str(tmp), "--ray", ray_address, "--ray-workers", "2", timeout=240) as (url, _):
        yield url


def open_page(browser, url, source, seed):
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.goto(url + "/")
    page.wait_for_selector("#generate_button", timeout=60000)
    for elem_id, value in (("width", 256), ("height", 256), ("steps", 30), ("denoising_strength", 1),
                           ("seed", seed)):
        set_number(page, elem_id, value)
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.wait_for_selector("#img2img_image img", timeout=30000)
    return page


def test_two_browsers_generate_at_once_on_two_workers_each_gallery_its_own(browser, ray_server, tmp_path):
    source = tmp_path / "source.png"
    noise_image(256, 256).save(source)
    pages = {seed: open_page(browser, ray_server, source, seed) for seed in (101, 202)}
    for page in pages.values():
        page.locator("#generate_button").click()
    workers = {}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not all("Done" in p.locator("#progress_status").inner_text()
                                                  for p in pages.values()):
        for seed, page in pages.items():
            status = page.locator("#progress_status").inner_text()
            if "Step" in status and " on ray-" in status:
                workers.setdefault(seed, status.split(" on ")[1].split(",")[0])
        time.sleep(0.1)
    assert sorted(workers.values()) == ["ray-1", "ray-2"]  # both ran at once, one on each worker
    for seed, page in pages.items():
        assert "Done" in page.locator("#progress_status").inner_text()
        page.wait_for_function(f"document.querySelectorAll('{RESULTS}').length == 1", timeout=30000)
        info = page.locator("#generation_info textarea").input_value()
        assert f"Seed: {seed}," in info  # this browser's own picture, not the other's
        page.context.close()

"""The page on a server with two Ray workers (issue 15): two browsers generate at once, each on its own worker (which
their progress lines name), and each gallery fills with its own pictures."""
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
    clicked = time.monotonic()
    for page in pages.values():
        page.locator("#generate_button").click()
    seen = {seed: [] for seed in pages}  # every progress line each page showed
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not all(lines and lines[-1].startswith("Done") for lines in seen.values()):
        for seed, page in pages.items():
            status = page.locator("#progress_status").inner_text()
            if not seen[seed] or seen[seed][-1] != status:
                seen[seed].append(status)
        time.sleep(0.1)
    both_done = time.monotonic() - clicked
    workers = {seed: lines[-1].split(" on ")[1].split(":")[0] for seed, lines in seen.items()
               if lines[-1].startswith("Done") and " on " in lines[-1]}
    assert sorted(workers.values()) == ["ray-1", "ray-2"], seen  # each on its own worker
    ran = [float(lines[-1].split("Done in ")[1].split(" s")[0]) for lines in seen.values()]
    assert both_done < sum(ran), (both_done, ran)  # at the same time: one after the other takes the sum
    for seed, page in pages.items():
        page.wait_for_function(f"document.querySelectorAll('{RESULTS}').length == 1", timeout=30000)
        info = page.locator("#generation_info textarea").input_value()
        assert f"Seed: {seed}," in info  # this browser's own picture, not the other's
        steps = [line for line in seen[seed] if line.startswith("Step")]
        assert all(line.split(" on ")[1].startswith(workers[seed]) for line in steps if " on " in line), seen
        page.context.close()

"""Sharing on a LAN, in the browser: a page that goes away takes its job with it."""
import time

from tests.helpers import noise_image
from tests.ui.browser import generate_and_wait, needs_chromium, set_number

pytestmark = needs_chromium


def test_a_closed_page_stops_its_job(browser, server, tmp_path):
    source = tmp_path / "source.png"
    noise_image(64, 64).save(source)
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.goto(server[0] + "/")
    page.wait_for_selector("#generate_button", timeout=60000)
    set_number(page, "width", 512)
    set_number(page, "height", 512)
    set_number(page, "steps", 150)
    set_number(page, "denoising_strength", 1)
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.wait_for_selector("#img2img_image img", timeout=30000)
    page.locator("#generate_button").click()
    page.wait_for_function("document.querySelector('#progress_status').innerText.includes('Step')", timeout=60000)
    context.close()  # the person closes the tab mid-job
    other = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    other.goto(server[0] + "/")
    other.wait_for_selector("#generate_button", timeout=60000)
    set_number(other, "steps", 2)
    set_number(other, "width", 64)
    set_number(other, "height", 64)
    other.locator("#img2img_image input[type=file]").set_input_files(str(source))
    other.wait_for_selector("#img2img_image img", timeout=30000)
    start = time.monotonic()
    generate_and_wait(other, server[1], timeout=60, sampling=False)  # not behind the closed page's 150 steps
    assert time.monotonic() - start < 60
    other.context.close()

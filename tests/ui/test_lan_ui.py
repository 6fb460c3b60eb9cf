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


def gradio_call(url, endpoint, overrides):
    """Call a gradio endpoint over raw HTTP, every parameter at its default but `overrides`; the event stream."""
    import requests
    info = requests.get(f"{url}/gradio_api/info", timeout=30).json()["named_endpoints"][f"/{endpoint}"]
    data = [overrides.get(p["parameter_name"], p["parameter_default"] if p["parameter_has_default"] else None)
            for p in info["parameters"]]
    event = requests.post(f"{url}/gradio_api/call/{endpoint}", json={"data": data}, timeout=30).json()["event_id"]
    return requests.get(f"{url}/gradio_api/call/{endpoint}/{event}", timeout=120).text


def test_a_file_input_cannot_name_a_file_on_the_server(server, tmp_path):
    """An image input given as {"path": <any server file>} must not be read: only uploads are."""
    from PIL import Image, PngImagePlugin
    secret = tmp_path / "secret.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "someone else's prompt")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(secret, pnginfo=info)
    trick = {"path": str(secret), "meta": {"_type": "gradio.FileData"}}
    stream = gradio_call(server[0], "img2img", {"init_img": trick, "steps": 2, "width": 64, "height": 64,
                                                "denoising_strength": 0})
    assert "event: error" in stream and "event: complete" not in stream
    stream = gradio_call(server[0], "batch", {"batch_files": [trick], "steps": 2, "width": 64, "height": 64})
    assert "event: error" in stream and "event: complete" not in stream

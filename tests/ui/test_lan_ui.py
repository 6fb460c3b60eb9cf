"""Sharing on a LAN, in the browser: a page that goes away takes its job with it; the login form, and the Queue tab."""
import time

from tests.helpers import noise_image
from tests.ui.browser import generate_and_wait, needs_chromium, set_number, wait_for_gallery_picture

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


def log_in(browser, url, name, password):
    """A new browser at the login form, logged in: -> its page, the app loaded."""
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.goto(url + "/")
    page.locator("input[type=text]").first.fill(name)
    page.locator("input[type=password]").first.fill(password)
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#generate_button", timeout=60000)
    return page


def queue_rows(page):
    page.get_by_role("tab", name="Queue", exact=True).click()
    page.locator("#queue_refresh").click()
    page.wait_for_timeout(1500)
    return page.locator("#queue_table").inner_text()


def test_an_admin_sees_the_whole_queue_on_the_page_and_stops_anyones_job(browser, tmp_path):
    """Logged in through the login form: the admin's Queue tab lists another user's running API job and interrupts
    it; a plain user's lists nothing of it, and the plain user's own pictures load in their gallery (the server hands
    them to their owner only)."""
    import threading
    import requests
    from tests.api.test_api import b64
    from tests.server import app_server
    (tmp_path / "users.txt").write_text("admin ann:pw1\nuser bob:pw2\nuser cid:pw3\n")
    with app_server(str(tmp_path), "--api", "--users-file", str(tmp_path / "users.txt")) as (url, _):
        body = {"init_images": [b64(noise_image(64, 64))], "width": 256, "height": 256, "steps": 150,
                "denoising_strength": 1.0}
        answer = {}
        sender = threading.Thread(target=lambda: answer.update(r=requests.post(
            f"{url}/sdapi/v1/img2img", json=body, auth=("bob", "pw2"), timeout=300)))
        sender.start()
        try:
            ann, cid = log_in(browser, url, "ann", "pw1"), log_in(browser, url, "cid", "pw3")
            deadline = time.monotonic() + 60
            while "user:bob" not in queue_rows(ann) and time.monotonic() < deadline:
                pass
            assert "running" in queue_rows(ann)
            assert "user:bob" not in queue_rows(cid)
            ann.locator("#queue_interrupt").click()
            sender.join(120)
            assert answer["r"].status_code == 200  # stopped early, with what it had made
            assert "user:bob" not in queue_rows(ann)
            source = tmp_path / "source.png"
            noise_image(64, 64).save(source)
            cid.get_by_role("tab", name="img2img", exact=True).first.click()
            for name, value in (("steps", 2), ("width", 64), ("height", 64)):
                set_number(cid, name, value)
            cid.locator("#img2img_image input[type=file]").set_input_files(str(source))
            cid.wait_for_selector("#img2img_image img", timeout=30000)
            generate_and_wait(cid, tmp_path / "outputs", sampling=False)
            wait_for_gallery_picture(cid, 64)
        finally:
            sender.join(120)

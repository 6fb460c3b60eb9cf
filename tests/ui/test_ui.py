"""The page in real headless Chromium (Debian's, driven by Playwright) against app.py on 127.0.0.1: upload, draw on
the canvas, generate, watch the progress bar and the gallery, and check the saved files' pixels."""
import numpy as np
import pytest
import requests
from gradio_client import Client, handle_file
from PIL import Image

from tests.helpers import noise_image, pixels
from tests.server import app_server
from tests.ui.browser import (RESULTS, draw_stroke_through_centre, generate_and_wait, needs_chromium, open_tab,
                              saved_files, screenshot, set_number, upload_to_editor)

pytestmark = needs_chromium


def draw_and_generate(page, server, tmp_path, tab, elem_id, source, steps, strength):
    """Upload `source` into a canvas tab at its own size, draw a stroke through its centre, generate; the saved
    picture's centre (under the stroke) and two corners (far from it)."""
    source_path = tmp_path / "source.png"
    source.save(source_path)
    set_number(page, "width", source.width)
    set_number(page, "height", source.height)
    set_number(page, "steps", steps)
    set_number(page, "denoising_strength", strength)
    open_tab(page, tab)
    canvas = upload_to_editor(page, elem_id, str(source_path))
    draw_stroke_through_centre(page, elem_id, canvas)
    screenshot(page, tab.lower().replace(" ", "-") + "-drawn")
    [path] = generate_and_wait(page, server[1], sampling=strength > 0)
    out = pixels(Image.open(path))
    h, w = out.shape[:2]
    return out[h // 2 - 4:h // 2 + 4, w // 2 - 8:w // 2 + 8], [out[:24, :24], out[-24:, -24:]]


def test_inpaint_a_stroke_drawn_on_the_canvas(page, server, tmp_path):
    source = noise_image(256, 256)
    centre, corners = draw_and_generate(page, server, tmp_path, "Inpaint", "inpaint_editor", source, 30, 0.9)
    original = pixels(source)
    assert (centre != original[124:132, 120:136]).any(axis=-1).mean() > 0.9  # under the stroke: repainted
    assert np.array_equal(corners[0], original[:24, :24]) and np.array_equal(corners[1], original[-24:, -24:])
    assert "Seed:" in page.locator("#generation_info textarea").input_value()


def test_sketch_strokes_reach_the_init_picture(page, server, tmp_path):
    source = Image.new("RGB", (256, 256), (0, 0, 0))
    centre, corners = draw_and_generate(page, server, tmp_path, "Sketch", "sketch_editor", source, 20, 0)
    assert centre.mean() > 200  # the white stroke, burnt into the init picture (strength 0 returns it as is)
    assert corners[0].max() == 0 and corners[1].max() == 0


def test_inpaint_sketch_stroke_becomes_the_mask(page, server, tmp_path):
    source = Image.new("RGB", (256, 256), (10, 20, 30))
    centre, corners = draw_and_generate(page, server, tmp_path, "Inpaint sketch", "inpaint_sketch_editor", source,
                                        8, 0.9)
    assert (centre != np.array([10, 20, 30])).any(axis=-1).mean() > 0.9
    assert (corners[0] == np.array([10, 20, 30])).all() and (corners[1] == np.array([10, 20, 30])).all()


def test_every_tab_renders(page):
    for name in ("img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch"):
        open_tab(page, name)
        screenshot(page, "tab-" + name.lower().replace(" ", "-"))
    page.get_by_role("tab", name="PNG Info", exact=True).click()
    screenshot(page, "tab-png-info")


def test_token_counter_styles_and_clip_skip(page, server, tmp_path):
    """The counter beside each prompt shows tokens / chunk size as the user types (the built-in tokenizer makes a
    token of each letter); a chosen style and Clip skip reach the saved picture's infotext."""
    prompt = page.locator("#prompt textarea")
    prompt.fill("a cat")
    page.wait_for_function("document.querySelector('#prompt_token_counter').innerText.includes('4/75')",
                           timeout=30000)
    prompt.fill("x" * 100)
    page.wait_for_function("document.querySelector('#prompt_token_counter').innerText.includes('100/150')",
                           timeout=30000)
    page.locator("#negative_prompt textarea").fill("[ugly:blurry:0.5]")  # the longer of the two texts counts
    page.wait_for_function("document.querySelector('#negative_token_counter').innerText.includes('6/75')",
                           timeout=30000)
    prompt.fill("a cat")
    page.locator("#styles input").click()
    page.keyboard.type("Film")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    set_number(page, "clip_skip", 2)
    set_number(page, "width", 64)
    set_number(page, "height", 64)
    set_number(page, "steps", 2)
    source_path = tmp_path / "source.png"
    noise_image(64, 64).save(source_path)
    page.locator("#img2img_image input[type=file]").set_input_files(str(source_path))
    page.wait_for_selector("#img2img_image img", timeout=30000)
    screenshot(page, "styles-and-clip-skip")
    [path] = generate_and_wait(page, server[1], sampling=False)
    params = Image.open(path).info["parameters"]
    assert params.startswith("a cat, film grain\nNegative prompt: [ugly:blurry:0.5], blurry\n")
    assert "Clip skip: 2" in params


def test_interrupt_stops_a_long_job_early(page, server, tmp_path):
    source_path = tmp_path / "source.png"
    noise_image(512, 512).save(source_path)
    set_number(page, "steps", 150)
    set_number(page, "denoising_strength", 1)
    page.locator("#img2img_image input[type=file]").set_input_files(str(source_path))
    page.wait_for_selector("#img2img_image img", timeout=30000)
    before = set(saved_files(server[1]))
    page.locator("#generate_button").click()
    page.wait_for_function("document.querySelector('#progress_status').innerText.includes('Step')", timeout=60000)
    page.wait_for_selector("#preview img", timeout=60000)  # the live preview, at the gallery's size
    preview, gallery = (page.locator(f"#{elem_id}").bounding_box() for elem_id in ("preview", "gallery"))
    assert abs(preview["width"] - gallery["width"]) < 2 and abs(preview["height"] - gallery["height"]) < 2
    page.locator("#interrupt_button").click()
    page.wait_for_function("document.querySelector('#progress_status').innerText.includes('Interrupted')",
                           timeout=60000)
    assert set(saved_files(server[1])) == before
    assert page.locator(RESULTS).count() == 0
    page.wait_for_selector("#preview", state="hidden", timeout=10000)  # no job: no live preview


def test_two_browser_sessions_each_see_only_their_own_results(browser, server, tmp_path):
    source_path = tmp_path / "source.png"
    noise_image(64, 64).save(source_path)
    pages = []
    for seed, size, steps in ((111, 256, 100), (222, 64, 20)):  # the first is long: the second waits behind it
        context = browser.new_context(viewport={"width": 1400, "height": 1200})
        page = context.new_page()
        page.goto(server[0] + "/")
        page.wait_for_selector("#generate_button", timeout=60000)
        set_number(page, "width", size)
        set_number(page, "height", size)
        set_number(page, "steps", steps)
        page.locator("#seed input").fill(str(seed))
        page.locator("#img2img_image input[type=file]").set_input_files(str(source_path))
        page.wait_for_selector("#img2img_image img", timeout=30000)
        pages.append((page, seed))
    pages[0][0].locator("#generate_button").click()
    pages[0][0].wait_for_function("document.querySelector('#progress_status').innerText.includes('Step')",
                                  timeout=60000)
    pages[1][0].locator("#generate_button").click()
    pages[1][0].wait_for_function(
        "document.querySelector('#progress_status').innerText.includes('Waiting: 1 job(s) ahead of yours')",
        timeout=30000)
    for page, seed in pages:
        page.wait_for_function("document.querySelector('#progress_status').innerText.includes('Done')",
                               timeout=120000)
        page.wait_for_function(f"document.querySelectorAll('{RESULTS}').length >= 1", timeout=30000)
        assert page.locator(RESULTS).count() == 1
        info = page.locator("#generation_info textarea").input_value()
        assert f"Seed: {seed}," in info
    for page, _ in pages:
        page.context.close()


def test_gradio_client_calls_each_mode(server, tmp_path):
    source_path = tmp_path / "source.png"
    noise_image(96, 64).save(source_path)
    client = Client(server[0], verbose=False)
    gallery, status, preview, info = client.predict(
        init_img=handle_file(str(source_path)), prompt="a cat", steps=4, width=64, height=64, seed=12,
        api_name="/img2img")
    assert len(gallery) == 1 and Image.open(gallery[0]["image"]).size == (64, 64)
    assert "Seed: 12," in info
    _, _, _, info = client.predict(init_img=handle_file(str(source_path)), steps=2, width=64, height=64,
                                   sampler_name="Euler a", override_settings=["ENSD: 31337", "RNG: CPU"],
                                   api_name="/img2img")
    assert "ENSD: 31337, RNG: CPU," in info  # settings pasted from an infotext apply to the job
    mask_path = tmp_path / "mask.png"
    Image.new("L", (96, 64), 255).save(mask_path)
    gallery, _, _, info = client.predict(upload_image=handle_file(str(source_path)),
                                         upload_mask=handle_file(str(mask_path)), steps=4, width=64, height=64,
                                         seed=13, api_name="/inpaint_upload")
    assert len(gallery) == 1 and "Mask blur: 4" in info


def test_gradio_auth_guards_the_page_and_the_api(tmp_path):
    with app_server(str(tmp_path), "--gradio-auth", "ann:pw1", "--api") as (url, _):
        assert requests.get(url + "/config", timeout=10).status_code == 401
        assert requests.get(url + "/sdapi/v1/samplers", timeout=10).status_code == 401
        assert requests.get(url + "/sdapi/v1/samplers", auth=("ann", "pw1"), timeout=10).status_code == 200
        with pytest.raises(Exception):
            Client(url, verbose=False)
        source = tmp_path / "s.png"
        noise_image(64, 64).save(source)
        client = Client(url, auth=("ann", "pw1"), verbose=False)
        gallery = client.predict(init_img=handle_file(str(source)), steps=2, width=64, height=64,
                                 api_name="/img2img")[0]
        assert len(gallery) == 1


def test_png_info_reads_a_picture_and_sends_its_parameters_to_inpaint(page, tmp_path):
    from PIL import PngImagePlugin
    infotext = ("a red leather armchair\nNegative prompt: lowres\nSteps: 30, Sampler: Euler a, Schedule type: "
                "Automatic, CFG scale: 7.5, Seed: 3405691582, Size: 512x768, Model hash: c6bbc15e32, "
                "Denoising strength: 0.9, Mask blur: 8, Inpaint area: Only masked, Masked area padding: 48, "
                "Masked content: fill, Soft inpainting enabled: True, Soft inpainting schedule bias: 1.5, "
                "ENSD: 31337, RNG: CPU, Version: v1.10.1")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", infotext)
    path = tmp_path / "a1111.png"
    noise_image(64, 64).save(path, pnginfo=info)
    page.get_by_role("tab", name="PNG Info", exact=True).click()
    page.locator("#png_info_image input[type=file]").set_input_files(str(path))
    page.wait_for_function("document.querySelector('#png_info_text textarea').value.includes('Seed: 3405691582')",
                           timeout=30000)
    page.get_by_role("button", name="Send to inpaint").click()
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'a red leather armchair'",
                           timeout=30000)
    assert page.locator("#negative_prompt textarea").input_value() == "lowres"
    assert page.locator("#seed input").input_value() == "3405691582"
    assert page.locator("#steps input[type=number]").first.input_value() == "30"
    assert page.locator("#height input[type=number]").first.input_value() == "768"
    assert page.locator("#denoising_strength input[type=number]").first.input_value() == "0.9"
    selected = page.locator("#mode_tabs [role=tab][aria-selected=true]").inner_text()
    assert selected == "Inpaint"
    assert page.get_by_role("radio", name="Only masked").is_checked()
    assert page.get_by_role("radio", name="fill", exact=True).is_checked()
    page.locator("#soft_inpainting").get_by_text("Soft inpainting").first.click()  # open its accordion
    assert page.locator("#soft_inpainting_enabled input[type=checkbox]").is_checked()
    assert page.locator("#soft_inpainting_mask_blend_power input[type=number]").first.input_value() == "1.5"
    overrides = page.locator("#override_settings")  # A1111's "Override settings": the infotext's settings
    assert "ENSD: 31337" in overrides.inner_text() and "RNG: CPU" in overrides.inner_text()
    screenshot(page, "png-info-sent-to-inpaint")


def test_batch_from_a_folder_through_the_batch_endpoint(server):
    url, outputs = server
    folder = outputs.parent / "inputs" / "set"
    folder.mkdir(parents=True)
    for i in range(2):
        noise_image(64, 64, seed=i).save(folder / f"{i}.png")
    client = Client(url, verbose=False)
    gallery, status, _, info = client.predict(batch_input_dir=str(folder), batch_output_dir=str(outputs / "set"),
                                              steps=3, width=64, height=64, api_name="/batch")
    assert len(gallery) == 2 and "2 done" in info
    assert sorted(p.name for p in (outputs / "set").iterdir()) == ["0.png", "1.png"]
    with pytest.raises(Exception, match="outside the allowed folders"):
        client.predict(batch_input_dir="/etc", api_name="/batch")

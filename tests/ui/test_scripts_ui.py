"""Each A1111 script on the page in Chromium: choose it in the Script dropdown, set its controls, generate, and see
its pictures (and grids) in the gallery and its samples saved."""
import pytest
from PIL import Image

from tests.helpers import noise_image
from tests.ui.browser import RESULTS, generate_and_wait, needs_chromium, screenshot, set_number

pytestmark = needs_chromium


def choose(page, elem_id, text):
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=text, exact=True).click()
    page.wait_for_timeout(300)


def set_outpainting(page):
    set_number(page, "poor_man_s_outpainting_pixels", 32)


def set_upscale(page):
    set_number(page, "sd_upscale_overlap", 16)
    choose(page, "sd_upscale_upscaler_index", "Lanczos")


def set_prompts(page):
    page.locator("#prompts_from_file_or_textbox_prompt_txt textarea").fill('a dog\n--prompt "a cat" --steps 2')


def set_xyz(page):
    page.locator("#x_y_z_plot_x_values textarea").fill("1, 2")


# (script, what to set, size, saved samples, results in the gallery (grids too), the final picture's size)
CASES = [
    ("Prompt matrix", lambda page: page.locator("#prompt textarea").fill("a|b"), 64, 2, 3),
    ("Prompts from file or textbox", set_prompts, 64, 2, 2),
    ("X/Y/Z plot", set_xyz, 64, 2, 3),
    ("Loopback", lambda page: set_number(page, "loopback_loops", 2), 64, 2, 3),
    ("Outpainting mk2", lambda page: set_number(page, "outpainting_mk2_pixels", 32), 64, 1, 1),
    ("Poor man's outpainting", set_outpainting, 64, 1, 1),
    ("SD upscale", set_upscale, 64, 1, 1),
]


@pytest.mark.parametrize("title, configure, size, saved, shown", CASES, ids=[c[0] for c in CASES])
def test_a_script_chosen_on_the_page_fills_the_gallery(page, server, tmp_path, title, configure, size, saved, shown):
    source_path = tmp_path / "source.png"
    noise_image(64, 64).save(source_path)
    set_number(page, "width", size)
    set_number(page, "height", size)
    set_number(page, "steps", 3)
    page.locator("#img2img_image input[type=file]").set_input_files(str(source_path))
    page.wait_for_selector("#img2img_image img", timeout=30000)
    choose(page, "script_list", title)
    configure(page)
    screenshot(page, "script-" + title.lower().replace(" ", "-").replace("/", "").replace("'", ""))
    paths = generate_and_wait(page, server[1], expect_images=saved, sampling=False)  # too quick to see a bar
    assert page.locator(RESULTS).count() == shown
    if title == "SD upscale":
        assert Image.open(paths[0]).size == (128, 128)
        assert "SD upscale upscaler: Lanczos" in Image.open(paths[0]).info["parameters"]


def test_soft_inpainting_accordion_on_an_inpaint_tab(page, server, tmp_path):
    from tests.helpers import rect_mask
    from tests.ui.browser import open_tab
    noise_image(64, 64).save(tmp_path / "image.png")
    rect_mask(64, 64, (16, 16, 48, 48)).save(tmp_path / "mask.png")
    set_number(page, "width", 64)
    set_number(page, "height", 64)
    set_number(page, "steps", 3)
    open_tab(page, "Inpaint upload")
    page.locator("#upload_image input[type=file]").set_input_files(str(tmp_path / "image.png"))
    page.locator("#upload_mask input[type=file]").set_input_files(str(tmp_path / "mask.png"))
    page.wait_for_selector("#upload_mask img", timeout=30000)
    page.locator("#soft_inpainting").get_by_text("Soft inpainting").first.click()
    page.locator("#soft_inpainting_enabled input[type=checkbox]").check()
    set_number(page, "soft_inpainting_mask_blend_scale", 1.5)
    screenshot(page, "soft-inpainting")
    [path] = generate_and_wait(page, server[1], sampling=False)
    infotext = Image.open(path).info["parameters"]
    assert "Soft inpainting enabled: True" in infotext and "Soft inpainting preservation strength: 1.5" in infotext

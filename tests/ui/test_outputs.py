"""What the page shows of a result, and Skip during a folder batch, in real Chromium."""
import numpy as np
import pytest

from tests.helpers import noise_image
from tests.ui.browser import (generate_and_wait, needs_chromium, open_tab, screenshot, set_number,
                              wait_for_gallery_picture)

pytestmark = needs_chromium

# For the largest picture in the gallery: the rectangle the picture itself takes (object-fit: contain inside the img
# element), and the part of it that the gallery and its scrolling or clipping ancestors leave visible.
SHOWN_PICTURE = """() => {
  const imgs = Array.from(document.querySelectorAll('#gallery img')).filter(i => i.naturalWidth);
  const img = imgs.sort((a, b) => b.getBoundingClientRect().width - a.getBoundingClientRect().width)[0];
  const box = img.getBoundingClientRect();
  const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  const picture = {left: box.left + (box.width - w) / 2, top: box.top + (box.height - h) / 2, width: w, height: h};
  let visible = {left: picture.left, top: picture.top, right: picture.left + w, bottom: picture.top + h};
  for (let el = img.parentElement; el; el = el.parentElement) {
    const style = getComputedStyle(el);
    if (style.overflow === 'visible' && style.overflowX === 'visible' && style.overflowY === 'visible') continue;
    const r = el.getBoundingClientRect();
    visible = {left: Math.max(visible.left, r.left), top: Math.max(visible.top, r.top),
               right: Math.min(visible.right, r.right), bottom: Math.min(visible.bottom, r.bottom)};
    if (el.id === 'gallery') break;
  }
  return {natural: [img.naturalWidth, img.naturalHeight], picture: [w, h],
          visible: [visible.right - visible.left, visible.bottom - visible.top]};
}"""


@pytest.mark.parametrize("width, height", [(512, 512), (512, 320)])
def test_the_gallery_shows_the_whole_result_at_its_aspect_ratio(browser, server, tmp_path, width, height):
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    page.goto(server[0] + "/")
    page.wait_for_selector("#generate_button", timeout=60000)
    source = tmp_path / "source.png"
    noise_image(width, height).save(source)
    for elem_id, value in (("width", width), ("height", height), ("steps", 2)):
        set_number(page, elem_id, value)
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.wait_for_selector("#img2img_image img", timeout=30000)
    generate_and_wait(page, server[1], sampling=False)
    wait_for_gallery_picture(page, width)  # a busy machine may take more than a moment
    page.wait_for_timeout(500)
    shown = page.evaluate(SHOWN_PICTURE)
    screenshot(page, f"gallery-{width}x{height}")
    context.close()
    assert shown["natural"] == [width, height]
    w, h = shown["picture"]
    assert abs(w / h - width / height) < 0.01  # the result's aspect ratio
    assert w >= 300  # shown large, not as a thumbnail
    assert np.allclose(shown["visible"], shown["picture"], atol=1)  # nothing of it clipped


def test_skip_during_a_folder_batch_goes_on_with_the_next_picture(page, server):
    url, outputs = server
    folder = outputs.parent / "inputs" / "skip"
    folder.mkdir(parents=True)
    for i in range(3):
        noise_image(128, 128, seed=i).save(folder / f"{i}.png")
    for elem_id, value in (("width", 128), ("height", 128), ("steps", 60), ("denoising_strength", 1)):
        set_number(page, elem_id, value)
    open_tab(page, "Batch")
    page.get_by_role("tab", name="From directory", exact=True).click()
    page.locator("#batch_input_dir textarea").fill(str(folder))
    page.locator("#batch_output_dir textarea").fill(str(outputs / "skipped-batch"))
    page.locator("#generate_button").click()
    page.wait_for_function("document.querySelector('#progress_status').innerText.includes('File 1/3 (0.png): step')",
                           timeout=120000)
    page.locator("#skip_button").click()
    page.wait_for_function("document.querySelector('#progress_status').innerText.includes('Batch finished')",
                           timeout=240000)
    screenshot(page, "batch-skipped")
    info = page.locator("#generation_info textarea").input_value()
    assert "2 done, 1 skipped, 0 failed" in info and "skipped 0.png: skipped: Skip was pressed" in info
    assert sorted(p.name for p in (outputs / "skipped-batch").iterdir()) == ["1.png", "2.png"]

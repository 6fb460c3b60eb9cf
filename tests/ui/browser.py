"""Driving the page in Debian's Chromium with Playwright: the launch flags, and what a person does on the page
(type a number, open a tab, upload to a canvas, draw, generate and wait)."""
import glob
import os
import time

import pytest

from tests.server import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
RESULTS = "#gallery .thumbnail-lg"  # one per result in the gallery's grid (the preview shows one of them)

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")


def set_number(page, elem_id, value):
    field = page.locator(f"#{elem_id} input[type=number]").first
    field.fill(str(value))
    field.press("Enter")


def open_tab(page, name):
    page.locator("#mode_tabs").get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(500)


def upload_to_editor(page, elem_id, path):
    canvas = page.locator(f"#{elem_id} .pixi-target canvas")
    canvas.wait_for(timeout=90000)
    page.locator(f"#{elem_id} input[type=file]").set_input_files(path)
    page.wait_for_function(f"""() => {{
        const b = document.querySelector('#{elem_id} button[aria-label="Undo"]');
        return b && !b.disabled; }}""", timeout=90000)
    return canvas


def draw_stroke_through_centre(page, elem_id, canvas, half_length=40):
    page.locator(f'#{elem_id} button[aria-label="Brush"]').first.click()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - half_length, cy)
    page.mouse.down()
    page.mouse.move(cx, cy, steps=2)
    page.mouse.move(cx + half_length, cy, steps=2)
    page.mouse.up()
    page.wait_for_timeout(1000)


def generate_and_wait(page, outdir, expect_images=1, timeout=120, sampling=True):
    before = set(saved_files(outdir))
    page.locator("#generate_button").click()
    if sampling:  # the progress bar shows while the steps run
        page.wait_for_selector("#progress_status progress", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Done" in page.locator("#progress_status").inner_text():
            break
        page.wait_for_timeout(200)
    else:
        pytest.fail("the job did not finish: " + page.locator("#progress_status").inner_text())
    page.wait_for_function(f"document.querySelectorAll('{RESULTS}').length >= {expect_images}", timeout=30000)
    new = sorted(set(saved_files(outdir)) - before)
    assert len(new) == expect_images
    return new


GALLERY_IMAGES = """async () => Promise.all(Array.from(document.querySelectorAll('#gallery img')).map(async i => {
  let answer = null;
  try { answer = (await fetch(i.currentSrc || i.src)).status; } catch (e) { answer = String(e); }
  const r = i.getBoundingClientRect();
  return {src: (i.currentSrc || i.src).slice(-80), complete: i.complete, naturalWidth: i.naturalWidth,
          loading: i.loading, box: [r.x, r.y, r.width, r.height], answer};
}))"""


def wait_for_gallery_picture(page, width, timeout=30):
    """Until a picture `width` wide has loaded in the gallery; else a failure that says what each of its <img>s is
    (source, loaded, size, lazy or not, where, and what its URL answers now), with a screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    condition = f"[...document.querySelectorAll('#gallery img')].some(i => i.naturalWidth === {width})"
    try:
        page.wait_for_function(condition, timeout=timeout * 1000)
    except PlaywrightTimeout:
        screenshot(page, f"gallery-not-loaded-{width}")
        pytest.fail(f"no {width}-wide picture loaded in the gallery in {timeout} s; its images: "
                    f"{page.evaluate(GALLERY_IMAGES)}; progress: {page.locator('#progress_status').inner_text()}")


def saved_files(outdir):
    return glob.glob(os.path.join(str(outdir), "img2img-images", "*", "*.png"))


def screenshot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)

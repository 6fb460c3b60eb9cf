"""Saving off the model's path (issue 14): the writer thread keeps the order, announces a picture only once its file
exists, and never leaves a half-written file under a final name; the PNG level changes the size, not the pixels."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from pipelines import Job, Result
from pipelines.saving import SaveFormat, write_image
from tests.helpers import noise_image
from tests.server import ROOT


def test_results_come_in_order_each_once_its_file_is_complete(services):
    job = Job(init_images=[noise_image(64, 64)], steps=2, width=64, height=64, seed=7, n_iter=3, batch_size=2)
    numbers = []
    for event in services.queue.run(job):
        if isinstance(event, Result):
            assert os.path.exists(event.path), "announced before its file exists"
            with Image.open(event.path) as saved:
                saved.load()
                assert saved.info["parameters"] == event.infotext
            assert event.index == len(numbers)
            numbers.append(int(re.match(r"(\d+)-", os.path.basename(event.path)).group(1)))
    assert numbers == list(range(numbers[0], numbers[0] + 6))  # named in the order they were made


def test_a_save_failure_fails_the_job_after_the_pictures_before_it(services, monkeypatch):
    import pipelines.saving as saving
    written = []
    real = saving.write_image

    def flaky(image, path, infotext, fmt):
        if written:
            raise OSError(28, "No space left on device")
        real(image, path, infotext, fmt)
        written.append(path)
    monkeypatch.setattr(saving, "write_image", flaky)
    events = list(services.queue.run(Job(init_images=[noise_image(64, 64)], steps=2, width=64, height=64, n_iter=2)))
    assert [type(e).__name__ for e in events if type(e).__name__ in ("Result", "Failed", "Done")] == \
        ["Result", "Failed"]
    assert "No space left on device" in events[-1].error and os.path.exists(written[0])


WRITER = """
import sys, numpy as np
from PIL import Image
sys.path.insert(0, {root!r})
from pipelines.saving import ImageSaver, SaveFormat
saver = ImageSaver({outdir!r})
picture = Image.fromarray(np.random.RandomState(0).randint(0, 256, (1536, 1536, 3), dtype=np.uint8))
print("writing", flush=True)
for seed in range(1000):
    saver.save_sample_later(picture, seed, "infotext", SaveFormat(png_compress_level=9), lambda path: None).result()
"""


def test_a_killed_process_leaves_no_half_written_file_under_a_final_name(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", WRITER.format(root=ROOT, outdir=str(tmp_path))],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    folder = tmp_path / "img2img-images"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(folder.glob("*/*.png"))) < 2:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    finals, partial = list(folder.glob("*/[0-9]*.png")), list(folder.glob("*/.*.tmp"))
    assert len(finals) >= 2 and partial, (finals, partial)  # killed mid-write, with pictures done before it
    for path in finals:
        with Image.open(path) as saved:
            saved.load()  # complete: a truncated PNG raises here
            assert saved.size == (1536, 1536)


def test_the_png_level_changes_the_size_and_never_the_pixels(tmp_path):
    picture = Image.fromarray((np.indices((256, 256)).sum(0) % 256).astype(np.uint8)).convert("RGB")
    sizes = {}
    for level in (0, 1, 9):
        path = tmp_path / f"level{level}.png"
        write_image(picture, path, "infotext", SaveFormat(png_compress_level=level))
        with Image.open(path) as saved:
            assert np.array_equal(np.asarray(saved), np.asarray(picture))
        sizes[level] = path.stat().st_size
    assert sizes[0] > sizes[1] > sizes[9]

"""Batch over folders: mirrored outputs, masks by stem or one for all, PNG info, skips with reasons, resume after a
kill, and folders confined to the allowed roots."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from modes.batch import BatchPathError, BatchRun, BatchSettings, BatchSummary, FileSkipped, list_images
from pipelines import load_image
from pipelines.infotext import parse_generation_parameters
from tests.helpers import noise_image, pixels, rect_mask
from tests.server import ROOT

FAST = dict(steps=3, scale_by=1.0, seed=5, denoising_strength=0.9, mask_blur=0)


def run_batch(services, **settings):
    params = settings.pop("params", FAST)
    events = list(BatchRun(services, BatchSettings(**settings), params))
    assert isinstance(events[-1], BatchSummary)
    return events[-1], events


def make_tree(root, count=12):
    """Pictures of mixed formats and sizes in sub-folders; returns their relative paths."""
    formats = ["png", "jpg", "webp", "tif"]
    sizes = [(64, 64), (96, 64), (64, 128), (128, 96)]
    rels = []
    for i in range(count):
        rel = os.path.join(["", "cats", "cats/small", "dogs"][i % 4], f"{i + 1:03d}.{formats[i % 4]}")
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        noise_image(*sizes[i % 4], seed=i).save(path, **({"quality": 95} if formats[i % 4] == "jpg" else {}))
        rels.append(rel)
    return rels


def test_natural_order_hidden_files_and_output_inside_input_are_left_out(tmp_path):
    for name in ("img10.png", "img2.png", "img1.png", ".hidden.png", "notes.txt", "out/img3.png", ".git/x.png"):
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        noise_image(8, 8).save(tmp_path / name, format="PNG")
    found = [p.as_posix() for p in list_images(tmp_path, exclude=(tmp_path / "out").resolve())]
    assert found == ["img1.png", "img2.png", "img10.png"]


def test_a_folder_tree_with_masks_by_stem(services, tmp_path):
    src, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    rels = make_tree(src)
    boxes = {}
    for rel in rels:
        image = Image.open(src / rel)
        box = (0, 0, image.width // 2, image.height)
        boxes[rel] = box
        os.makedirs(masks / os.path.dirname(rel), exist_ok=True)
        stem = os.path.splitext(os.path.basename(rel))[0]
        rect_mask(*image.size, box).save(masks / os.path.dirname(rel) / (stem + ".png"))
    summary, _ = run_batch(services, input_dir=str(src), output_dir=str(out), mask_dir=str(masks))
    assert len(summary.done) == 12 and not summary.skipped and not summary.failed
    for rel in rels:
        result = out / (os.path.splitext(rel)[0] + ".png")
        assert result.exists(), rel
        source = pixels(load_image(str(src / rel)))
        output = pixels(Image.open(result))
        w = boxes[rel][2]
        assert output.shape == source.shape
        assert np.array_equal(output[:, w + 8:], source[:, w + 8:])  # unmasked: the input's own pixels
        assert (output[:, :w - 8] != source[:, :w - 8]).any()
        assert parse_generation_parameters(Image.open(result).info["parameters"])["Seed"] == "5"
    assert sorted(p.name for p in src.rglob("*") if p.is_file()) == sorted(os.path.basename(r) for r in rels)


def test_one_mask_for_every_picture_and_numbered_outputs_for_a_batch(services, tmp_path):
    src, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    make_tree(src, 4)
    masks.mkdir()
    rect_mask(64, 64, (0, 0, 32, 64)).save(masks / "only-mask.png")
    summary, _ = run_batch(services, input_dir=str(src), output_dir=str(out), mask_dir=str(masks),
                           params=dict(FAST, batch_size=2))
    assert len(summary.done) == 4
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "001-1.png", "001-2.png", "cats/002-1.png", "cats/002-2.png", "cats/small/003-1.png", "cats/small/003-2.png",
        "dogs/004-1.png", "dogs/004-2.png"]


def test_a_script_runs_on_each_picture_and_its_further_pictures_are_numbered(services, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_tree(src, 2)
    summary, _ = run_batch(services, input_dir=str(src), output_dir=str(out),
                           params=dict(FAST, script_name="Loopback", script_args=[2, 0.5, "Linear", "None"]))
    assert len(summary.done) == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "001-2.png", "001-3.png", "001.png", "cats/002-2.png", "cats/002-3.png", "cats/002.png"]  # loops, then grid
    assert "Denoising curve: Linear" in load_image(str(out / "001-2.png")).info["parameters"]


def test_missing_masks_corrupt_and_text_files_are_skipped_with_reasons(services, tmp_path):
    src, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    src.mkdir()
    masks.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        noise_image(64, 64).save(src / name)
    for name in ("a.png", "c.png", "corrupt.png", "text.png"):
        rect_mask(64, 64, (0, 0, 32, 32)).save(masks / name)
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (src / "text.png").write_text("this is not a picture\n")
    summary, events = run_batch(services, input_dir=str(src), output_dir=str(out), mask_dir=str(masks))
    assert sorted(summary.done) == ["a.png", "c.png"]
    assert "mask is not found" in summary.skipped["b.png"]
    assert "corrupt.png" in summary.skipped["corrupt.png"] and "not a readable image" in summary.skipped["text.png"]
    assert {e.rel for e in events if isinstance(e, FileSkipped)} == {"b.png", "corrupt.png", "text.png"}
    assert "3 skipped" in summary.text() and "b.png: mask is not found" in summary.text()
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]


def test_png_info_gives_each_picture_its_own_prompt_and_seed(services, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name, prompt, seed in (("one.png", "a red fox", 1111), ("two.png", "a blue whale", 2222)):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, "
                                    "Size: 64x64")
        noise_image(64, 64).save(src / name, pnginfo=info)
    summary, _ = run_batch(services, input_dir=str(src), output_dir=str(out), png_info=True,
                           png_info_fields=["Prompt", "Seed"], params=dict(FAST, prompt="photo"))
    assert len(summary.done) == 2
    one = parse_generation_parameters(Image.open(out / "one.png").info["parameters"])
    two = parse_generation_parameters(Image.open(out / "two.png").info["parameters"])
    assert (one["Prompt"], one["Seed"]) == ("photo a red fox", "1111")
    assert (two["Prompt"], two["Seed"]) == ("photo a blue whale", "2222")
    assert one["Steps"] == "3" and one["Sampler"] == "DPM++ 2M"  # fields not chosen stay the panel's


def kill_once_written(command, out, timeout, count=2):
    """Run an `app.py batch` command and SIGKILL it as soon as `count` outputs exist under `out`."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(list(out.rglob("*.png"))) < count:
            time.sleep(0.05)
        assert len(list(out.rglob("*.png"))) >= count, "the batch made no progress"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)


def test_a_killed_batch_resumes_and_makes_every_output_exactly_once(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(8):
        noise_image(128, 128, seed=i).save(src / f"{i:02d}.png")
    command = [sys.executable, "app.py", "batch", "--input", str(src), "--output", str(out), "--steps", "40",
               "--denoising-strength", "1", "--width", "128", "--height", "128", "--ckpt-dir", str(tmp_path / "none")]
    kill_once_written(command, out, timeout=120)
    killed_after = {p.name for p in out.glob("*.png")}
    assert len(killed_after) < 8
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"{len(killed_after)} skipped" in finished.stderr  # the ones done before are not made again
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == [f"{i:02d}.png" for i in range(8)]
    for name in names:
        with Image.open(out / name) as image:
            image.verify()


def test_cli_exits_non_zero_with_a_clear_message_for_a_bad_folder(tmp_path):
    finished = subprocess.run([sys.executable, "app.py", "batch", "--input", str(tmp_path / "nope")], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2 and "is not a folder" in finished.stderr


def test_folders_outside_the_allowed_roots_and_links_out_are_refused(services, tmp_path):
    roots = [str(tmp_path / "inputs"), str(tmp_path / "outputs")]
    inside, outside = tmp_path / "inputs" / "pics", tmp_path / "elsewhere"
    inside.mkdir(parents=True)
    outside.mkdir()
    noise_image(64, 64).save(inside / "ok.png")
    noise_image(64, 64).save(outside / "secret.png")
    with pytest.raises(BatchPathError, match="outside the allowed folders"):
        BatchRun(services, BatchSettings(input_dir=str(outside), roots=roots), FAST)
    with pytest.raises(BatchPathError, match="output folder .* outside the allowed folders"):
        BatchRun(services, BatchSettings(input_dir=str(inside), output_dir="/tmp", roots=roots), FAST)
    (tmp_path / "inputs" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BatchPathError, match="outside the allowed folders"):
        BatchRun(services, BatchSettings(input_dir=str(tmp_path / "inputs" / "link"), roots=roots), FAST)
    (inside / "sneaky.png").symlink_to(outside / "secret.png")
    summary, _ = run_batch(services, input_dir=str(inside), output_dir=str(tmp_path / "outputs" / "r"), roots=roots)
    assert summary.done == ["ok.png"]
    assert "leads outside the allowed folders" in summary.skipped["sneaky.png"]


def test_interrupt_stops_the_batch_and_keeps_what_is_saved(services, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(5):
        noise_image(64, 64, seed=i).save(src / f"{i}.png")
    run = BatchRun(services, BatchSettings(input_dir=str(src), output_dir=str(out)), dict(FAST, steps=10))
    events = []
    for event in run:
        events.append(event)
        if type(event).__name__ == "FileResult":
            run.interrupt()
    summary = events[-1]
    assert summary.interrupted and summary.done == ["0.png"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["0.png"]


def test_cli_applies_styles_from_the_styles_file(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noise_image(64, 64).save(src / "a.png")
    (tmp_path / "styles.csv").write_text('name,prompt,negative_prompt\nFilm,"{prompt}, film grain",blurry\n')
    finished = subprocess.run([sys.executable, "app.py", "batch", "--input", str(src), "--output", str(out),
                               "--steps", "2", "--width", "64", "--height", "64", "--prompt", "a cat",
                               "--styles", "Film", "--styles-file", str(tmp_path / "styles.csv"),
                               "--ckpt-dir", str(tmp_path / "none")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    with Image.open(out / "a.png") as image:
        assert image.info["parameters"].startswith("a cat, film grain\nNegative prompt: blurry\n")


def test_uploaded_files_run_in_order_with_the_usual_saving_and_a_bad_one_skipped(services, tmp_path, outdir):
    """The Batch tab's "Upload": the pictures as they are, each saved under outputs/ as a single job would be."""
    files = []
    for i in range(2):
        files.append(str(tmp_path / f"{i}.png"))
        noise_image(64, 64, seed=i).save(files[-1])
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    files.insert(1, str(tmp_path / "broken.png"))
    summary, events = run_batch(services, files=files)
    assert summary.done == ["0.png", "1.png"] and list(summary.skipped) == ["broken.png"]
    saved = [e.path for e in events if type(e).__name__ == "FileResult"]
    assert len(saved) == 2 and all(os.path.dirname(os.path.dirname(p)).startswith(str(outdir)) for p in saved)
    assert parse_generation_parameters(Image.open(saved[1]).info["parameters"])["Seed"] == "5"


def test_a_linked_sub_folder_of_the_output_is_not_written_through(services, tmp_path):
    src, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    make_tree(src, 2)  # 001.png and cats/002.jpg
    elsewhere.mkdir()
    out.mkdir()
    (out / "cats").symlink_to(elsewhere, target_is_directory=True)  # a sub-folder of the output leading outside
    summary, _ = run_batch(services, input_dir=str(src), output_dir=str(out))
    assert summary.done == ["001.png"] and "leads outside the output folder" in summary.failed["cats/002.jpg"]
    assert list(elsewhere.iterdir()) == []  # nothing written there

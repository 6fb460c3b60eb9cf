"""`app.py batch --ray`: a folder split across two Ray workers (issue 15) gives the same files as the plain batch,
byte for byte, and resumes after a kill with every output written once."""
import os
import subprocess
import sys

from PIL import Image

from tests.core.test_batch import kill_once_written, make_tree
from tests.helpers import rect_mask
from tests.server import ROOT


def batch_command(src, out, tmp_path, *flags):
    return [sys.executable, "app.py", "batch", "--input", str(src), "--output", str(out), "--seed", "5",
            "--ckpt-dir", str(tmp_path / "none"), *flags]


def tree_with_masks(tmp_path):
    src, masks = tmp_path / "in", tmp_path / "masks"
    for rel in make_tree(src, count=8):
        with Image.open(src / rel) as image:
            size = image.size
        folder = masks / os.path.dirname(rel)
        folder.mkdir(parents=True, exist_ok=True)
        stem = os.path.splitext(os.path.basename(rel))[0]
        rect_mask(*size, (0, 0, size[0] // 2, size[1])).save(folder / f"{stem}.png")
    return src, masks


def files_under(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_a_batch_across_two_workers_writes_the_same_files_as_the_plain_batch(ray_address, tmp_path):
    src, masks = tree_with_masks(tmp_path)
    flags = ["--mask-dir", str(masks), "--steps", "4", "--denoising-strength", "0.8", "--scale-by", "1"]
    plain = subprocess.run(batch_command(src, tmp_path / "plain", tmp_path, *flags), cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    on_ray = subprocess.run(batch_command(src, tmp_path / "ray", tmp_path, *flags, "--ray", ray_address,
                                          "--ray-workers", "2"), cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert on_ray.returncode == 0, on_ray.stderr
    assert "8 done, 0 skipped, 0 failed" in on_ray.stderr
    expected, got = files_under(tmp_path / "plain"), files_under(tmp_path / "ray")
    assert len(expected) == 8 and "cats/small/003.png" in expected
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []


def test_a_killed_ray_batch_resumes_and_writes_every_output_once(ray_address, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_tree(src, count=8)
    command = batch_command(src, out, tmp_path, "--steps", "40", "--denoising-strength", "1", "--width", "128",
                            "--height", "128", "--ray", ray_address, "--ray-workers", "2")
    kill_once_written(command, out, timeout=240)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.png")}
    assert 2 <= len(before) < 8
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert f"{8 - len(before)} done, {len(before)} skipped, 0 failed" in finished.stderr
    for path, stamp in before.items():  # not written again
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(outputs) == 8
    for path in out.rglob("*.png"):
        with Image.open(path) as image:
            image.verify()

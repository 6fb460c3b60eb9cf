""""Only masked" on a big source against a plain inpaint job at the processing size, on the built-in model.

    python bench/only_masked.py [--source 4096] [--mask 128] [--size 512] [--steps 20] [--strength 0.75]

Job A inpaints a `--mask` square in a `--source` square picture with "Inpaint area: Only masked" (processed at
`--size`, pasted back into the whole picture, which is saved). Job B inpaints the same mask in a `--size` picture, whole
picture. Both through the core (`services.queue.run`, saving included), the same seed, sampler and steps: `--repeats`
pairs, the two jobs of a pair one after the other, in turns; the ratio is the median of the pairs' ratios. The pixel
work of A should cost about the crop's, not the source's: the last line is `only-masked/plain ratio: <x>` (the goal
is <= 1.10 at 4096, <= 1.05 at 2048).
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import add_job_arguments, in_turns, median_ratio  # noqa: E402
from pipelines import Done, Failed, Folders, Job, Placement, build_services  # noqa: E402


def smooth_picture(size: int) -> Image.Image:
    """A photo-like source (gradients and soft shapes, not noise, so that PNG sizes are realistic)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rgb = np.stack([128 + 100 * np.sin(6 * x + 2 * y), 128 + 90 * np.cos(5 * y - 3 * x), 255 * x * y], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def square_mask(size: int, side: int) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    start = size // 2 - side // 2
    mask.paste(255, (start, start, start + side, start + side))
    return mask


def time_job(services, job: Job) -> float:
    start = time.perf_counter()
    for event in services.queue.run(job):
        if isinstance(event, Failed):
            raise RuntimeError(event.error)
    assert isinstance(event, Done) and event.images
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=int, default=4096)
    parser.add_argument("--mask", type=int, default=128)
    add_job_arguments(parser, repeats=5)
    args = parser.parse_args()
    common = dict(prompt="a photo of a cat", sampler_name="Euler", steps=args.steps, cfg_scale=7,
                  denoising_strength=args.strength, width=args.size, height=args.size, mask_blur=4)
    big = Job(init_images=[smooth_picture(args.source)], mask=square_mask(args.source, args.mask),
              inpaint_full_res=True, inpaint_full_res_padding=32, **common)
    plain = Job(init_images=[smooth_picture(args.size)], mask=square_mask(args.size, args.mask), **common)
    with tempfile.TemporaryDirectory() as outdir:
        services = build_services("builtin:tiny", Folders(ckpt_dir=None, outdir=outdir), Placement(device="cpu"))
        time_job(services, big), time_job(services, plain)  # warm-up
        masked, plains = in_turns(lambda r: time_job(services, big), lambda r: time_job(services, plain), args.repeats)
        services.close()
    best = {"only masked": min(masked), "plain": min(plains)}
    ratio = median_ratio(masked, plains)
    print(f"only masked, {args.mask}x{args.mask} mask in {args.source}x{args.source}: {best['only masked']:.3f} s   "
          f"plain {args.size}x{args.size} inpaint: {best['plain']:.3f} s (best runs)", flush=True)
    print(f"only-masked/plain ratio: {ratio:.3f}")


if __name__ == "__main__":
    main()

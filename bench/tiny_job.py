"""The fixed cost of a job: how much of a tiny job (64x64, 2 steps, the built-in model) is spent outside the UNet and
the VAE, that is in the core's own work (checks, preparation, prompts, noise, saving, the queue's hand-off).

    python bench/tiny_job.py [--size 64] [--steps 2] [--jobs 30]

The last line is `outside the UNet and VAE: <x> %` (the goal is <= 20 %).
"""
import argparse
import functools
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines import Folders, Job, Placement, build_services  # noqa: E402


def timed(function, spent: list):
    @functools.wraps(function)
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    picture = Image.fromarray(np.random.RandomState(0).randint(0, 256, (args.size, args.size, 3), dtype=np.uint8))
    job = Job(init_images=[picture], prompt="a photo of a cat", sampler_name="Euler", steps=args.steps,
              denoising_strength=1.0, width=args.size, height=args.size, cfg_scale=7)
    with tempfile.TemporaryDirectory() as outdir:
        services = build_services("builtin:tiny", Folders(ckpt_dir=None, outdir=outdir), Placement(device="cpu"))
        pipe = services.models.model.pipe
        for _ in range(3):  # warm-up
            list(services.queue.run(job))
        spent: list = []
        pipe.unet.forward = timed(pipe.unet.forward, spent)
        pipe.vae.encode, pipe.vae.decode = timed(pipe.vae.encode, spent), timed(pipe.vae.decode, spent)
        start = time.perf_counter()
        for _ in range(args.jobs):
            list(services.queue.run(job))
        whole = time.perf_counter() - start
        services.close()
    models = sum(spent)
    print(f"{args.jobs} jobs {args.size}x{args.size}, {args.steps} steps: {whole / args.jobs * 1000:.1f} ms a job, "
          f"UNet and VAE {models / args.jobs * 1000:.1f} ms")
    print(f"outside the UNet and VAE: {100 * (whole - models) / whole:.1f} %")


if __name__ == "__main__":
    main()

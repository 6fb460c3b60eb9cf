"""Jobs on Ray workers against the in-process worker, on the built-in model (or on GPUs: `bash bench/gpu.sh
--multi-gpu`).

    python bench/ray.py [--jobs 8] [--workers 2] [--size 512] [--steps 20] [--strength 0.75] [--ray local]
                        [--device cpu|cuda] [--ckpt builtin:tiny|sd15|PATH]

The same `--jobs` img2img jobs (two owners, saving included) are submitted at once, first to services with the
in-process worker, then to services with Ray workers on `--ray` (a local instance by default): on the CPU `--workers`
of them, one torch thread each, as the in-process one; with `--device cuda` one per GPU. Each after a warm-up job;
start-up is not timed. The last line is `ray/in-process time ratio: <x>`: on a 2-core machine with 2 CPU workers
the goal is <= 0.6; with N GPUs, about 1/N.
"""
import argparse
import os
import sys
import tempfile
import time

# the project instead of bench/ first on the path: this file is named ray.py, and `import ray` means Ray's
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from bench.common import add_job_arguments, noise_picture  # noqa: E402
from pipelines import Done, Failed, Folders, Job, Placement, build_services  # noqa: E402
from pipelines.workers import RayOptions  # noqa: E402


def jobs(count: int, size: int, steps: int, strength: float):
    return [Job(init_images=[noise_picture(size, seed=k)], prompt="a photo of a cat", sampler_name="Euler",
                steps=steps, denoising_strength=strength, width=size, height=size, seed=k, cfg_scale=7)
            for k in range(count)]


def time_all(services, batch) -> float:
    """Seconds from submitting every job until the last one is done."""
    start = time.perf_counter()
    handles = [services.queue.submit(job, owner=f"user-{k % 2}") for k, job in enumerate(batch)]
    for handle in handles:
        handle.finished.wait()
        if not isinstance(handle.result, Done):
            raise RuntimeError(handle.result.error if isinstance(handle.result, Failed) else handle.result)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray", default="local", help="local, auto or a cluster's address")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ckpt", default="builtin:tiny", help="builtin:tiny, sd15 (bench/gpu_bench.py's model) or a "
                                                               "checkpoint's path")
    add_job_arguments(parser)
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    ckpt = args.ckpt
    if ckpt == "sd15":
        from bench.gpu_bench import SD15_DIR, ensure_sd15_folder
        ckpt = str(ensure_sd15_folder(SD15_DIR, args.device))
    batch = jobs(args.jobs, args.size, args.steps, args.strength)
    times = {}
    with tempfile.TemporaryDirectory() as outdir:
        folders = Folders(ckpt_dir=None, outdir=outdir)
        for name, ray in (("in-process", None), ("ray", RayOptions(args.ray, args.workers))):
            services = build_services(ckpt, folders, Placement(args.device), ray=ray)
            time_all(services, batch[:1])  # warm-up
            times[name] = time_all(services, batch)
            services.close()
            print(f"{name:10s} {args.jobs} jobs {args.size}x{args.size} {args.steps} steps @ {args.strength}: "
                  f"{times[name]:7.2f} s ({args.jobs / times[name]:.2f} jobs/s)", flush=True)
    print(f"ray/in-process time ratio: {times['ray'] / times['in-process']:.3f}")


if __name__ == "__main__":
    main()

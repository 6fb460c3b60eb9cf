"""Batch throughput against pure model throughput, on the built-in model.

    python bench/batch.py [--count 32] [--size 512] [--steps 20] [--strength 0.75]

Writes `--count` pictures to a folder, runs the batch (reading, preparing, generating, saving with its infotext) and
compares its wall time with the sum of bare diffusers img2img calls for the same jobs, pictures already in memory
and nothing saved. The last line is `batch/model throughput: <x>` (1.0 = no overhead at all; the target is >= 0.9).
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import add_job_arguments, diffusers_pipelines, noise_picture, time_core, time_diffusers  # noqa: E402
from modes.batch import BatchRun, BatchSettings, BatchSummary  # noqa: E402
from pipelines import Folders, Placement, build_services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=32)
    add_job_arguments(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "in")
        os.makedirs(folder)
        for i in range(args.count):
            noise_picture(args.size, seed=i).save(os.path.join(folder, f"{i:03d}.png"))
        services = build_services("builtin:tiny", Folders(ckpt_dir=None, outdir=os.path.join(tmp, "outputs")),
                                  Placement(device="cpu"))
        pipe = diffusers_pipelines(services)["img2img"]
        no_sync = lambda: None  # noqa: E731
        # warm-up, both sides (the core's on a picture outside the folder: nothing of it can be reused)
        time_diffusers(pipe, "img2img", args.size, args.steps, args.strength, 0, no_sync)
        time_core(services, "img2img", args.size, args.steps, args.strength, 0, no_sync, picture=args.count + 1)

        def bare_model(jobs):
            return sum(time_diffusers(pipe, "img2img", args.size, args.steps, args.strength, i, no_sync).seconds
                       for i in range(jobs))

        # half the bare jobs before the batch and half after, so that a machine getting busier or quieter during
        # the run weighs on both sides alike
        bare = bare_model(args.count // 2)
        params = dict(sampler_name="Euler", steps=args.steps, denoising_strength=args.strength, width=args.size,
                      height=args.size, seed=1, prompt="a photo of a cat")
        start = time.perf_counter()
        run = BatchRun(services, BatchSettings(input_dir=folder, output_dir=os.path.join(tmp, "out")), params)
        summary = [e for e in run if isinstance(e, BatchSummary)][0]
        wall = time.perf_counter() - start
        bare += bare_model(args.count - args.count // 2)
        services.close()
        assert len(summary.done) == args.count, summary.text()
    print(f"{args.count} pictures {args.size}x{args.size}, {args.steps} steps @ {args.strength}: batch {wall:.1f} s "
          f"({args.count / wall:.3f} pictures/s), bare model {bare:.1f} s ({args.count / bare:.3f} pictures/s)")
    print(f"batch/model throughput: {bare / wall:.3f}")


if __name__ == "__main__":
    main()

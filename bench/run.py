"""The core against bare diffusers on the built-in model: img2img and whole-picture inpaint at 512x512.

    python bench/run.py [--size 512] [--steps 20] [--strength 0.75] [--repeats 5] [--fresh-pictures]

Prints one line per case and, last, `core/diffusers ratio: <x>`: the worst whole-job time ratio of the cases.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import add_job_arguments, compare, worst_ratio  # noqa: E402
from pipelines import Folders, Placement, build_services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default="builtin:tiny")
    add_job_arguments(parser, repeats=5)
    parser.add_argument("--fresh-pictures", action="store_true",
                        help="another init picture for each pair of runs, instead of generating again from one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as outdir:
        services = build_services(args.ckpt, Folders(ckpt_dir=None, outdir=outdir), Placement(device="cpu"))
        results = compare(services, args.size, args.steps, args.strength, args.repeats, sync=lambda: None,
                          fresh_pictures=args.fresh_pictures)
        services.close()
    print(f"core/diffusers ratio: {worst_ratio(results):.3f}")


if __name__ == "__main__":
    main()

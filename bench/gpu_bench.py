"""The core against bare diffusers on an SD 1.5-shaped model with random weights: eager, --compile, + --cuda-graphs.

    bash bench/gpu.sh            (on a CUDA machine; see bench/README.md)

Builds SD 1.5's UNet, VAE and text encoder from the configs in bench/sd15/ (no downloads), saves them once as a
diffusers folder, loads it through the services like any checkpoint, and times at 512x512, 20 steps, strength 0.75,
fp16, batch 1: img2img and whole-picture inpaint through the core and through bare diffusers.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from bench.common import add_job_arguments, compare, worst_ratio  # noqa: E402
from pipelines import Folders, Placement, build_services  # noqa: E402
from pipelines.builtin_model import byte_level_tokenizer  # noqa: E402
from pipelines.models import accelerate  # noqa: E402

CONFIGS = Path(__file__).parent / "sd15"


def build_sd15_folder(folder: Path, device: str) -> None:
    """SD 1.5's architecture with seeded random weights, in fp16, saved in diffusers layout."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    def config(name):
        return {k: v for k, v in json.loads((CONFIGS / f"{name}.json").read_text()).items() if k != "_class_name"}

    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(config("unet")).half()
        vae = AutoencoderKL.from_config(config("vae")).half()
        text_encoder = CLIPTextModel(CLIPTextConfig(**config("text_encoder"))).half()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=byte_level_tokenizer(folder / "tok"),
                                   unet=unet, scheduler=PNDMScheduler.from_config(config("scheduler")),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)


def ensure_sd15_folder(model_dir: str, device: str) -> Path:
    """The SD 1.5-shaped model's folder, built the first time."""
    folder = Path(model_dir)
    if not (folder / "model_index.json").exists():
        start = time.perf_counter()
        build_sd15_folder(folder, device)
        print(f"built the SD 1.5-shaped model in {time.perf_counter() - start:.1f} s", flush=True)
    return folder


SD15_DIR = os.path.join(tempfile.gettempdir(), "sd15-random-fp16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    add_job_arguments(parser, repeats=5)
    parser.add_argument("--model-dir", default=SD15_DIR)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()

    import diffusers
    import transformers
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(f"device: {gpu}; torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"transformers {transformers.__version__}", flush=True)
    folder = ensure_sd15_folder(args.model_dir, args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as outdir:
        services = build_services(str(folder), Folders(ckpt_dir=None, outdir=outdir), Placement(args.device))
        worst = worst_ratio(compare(services, args.size, args.steps, args.strength, args.repeats, sync, "eager    "))
        if not args.no_compile:  # --compile (regional, in place: both sides run the compiled blocks), then + graphs
            for label, graphs in (("compiled ", False), ("graphs   ", True)):
                start = time.perf_counter()
                accelerate(services.models.model, True, False, graphs)
                results = compare(services, args.size, args.steps, args.strength, args.repeats, sync, label)
                print(f"{label.strip()} runs, first (compiling) warm-up included: {time.perf_counter() - start:.1f} s")
                worst = max(worst, worst_ratio(results))
        services.close()
    print(f"core/diffusers ratio: {worst:.3f}")


if __name__ == "__main__":
    main()

"""`python app.py batch`: the Batch tab without a browser, for cron jobs and scripts. A flag for every Job parameter
comes from its declaration (pipelines/job.py): its default, type and bounds. Progress is one console line."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, List

from pipelines import Folders, ModelLoadError, Param, Placement, build_services, declared
from pipelines.job import Job
from pipelines.params import ParamError
from pipelines.progress import batch_fraction, eta_seconds


def add_library_arguments(parser: argparse.ArgumentParser) -> None:
    """A1111's folders for LoRAs, embeddings and VAEs, and its styles file."""
    parser.add_argument("--lora-dir", default="models/Lora", help="LoRA files used by <lora:name:weight> in prompts")
    parser.add_argument("--embeddings-dir", default="embeddings", help="textual-inversion embeddings")
    parser.add_argument("--vae-dir", default="models/VAE", help="VAE files for the sd_vae setting")
    parser.add_argument("--styles-file", default="styles.csv", help="prompt styles (name, prompt, negative_prompt)")
    parser.add_argument("--models-dir", default="models",
                        help="A1111's models folder: upscalers in ESRGAN/, RealESRGAN/, SwinIR/, DAT/; face "
                             "restoration in GFPGAN/, Codeformer/")


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="run jobs on Ray workers, one per GPU: `local` (start Ray here), `auto` (the cluster "
                             "`ray start` made) or a cluster's address; needs requirements-ray.txt")
    parser.add_argument("--ray-workers", type=int, default=1, metavar="N",
                        help="with --ray and no GPU: this many CPU workers, one torch thread each")


def ray_options(args: argparse.Namespace):
    """--ray and --ray-workers as the services take them (None without --ray)."""
    from pipelines.workers import RayOptions
    if not args.ray:
        return None
    if args.ray_workers < 1:
        raise SystemExit("--ray-workers must be at least 1")
    return RayOptions(args.ray, args.ray_workers)


def folders(args: argparse.Namespace) -> Folders:
    return Folders(ckpt_dir=args.ckpt_dir, lora_dir=args.lora_dir, embeddings_dir=args.embeddings_dir,
                   vae_dir=args.vae_dir, styles_file=args.styles_file, outdir=args.outdir, models_dir=args.models_dir)


def flag_type(name: str, param: Param) -> Callable[[str], Any]:
    """Reads a flag's text as the parameter's type and checks it against the declaration."""
    def read(text: str):
        if param.type is list:
            return [s.strip() for s in text.split(",") if s.strip()]
        try:
            value = (int if param.is_integer else float if param.type is float else str)(text)
            param.check(name, value)
        except (ValueError, ParamError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    return read


def add_job_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for each declared Job parameter that has one: `--denoising-strength 0.6`, `--inpaint-full-res`."""
    for name, param in declared(Job).items():
        if not param.cli:
            continue
        flag = "--" + name.replace("_", "-")
        meanings = param.numbered_choices()
        low, high = param.bounds
        limits = f", {low} to {high}" if param.is_number and not meanings and (low, high) != (None, None) else ""
        help_text = f"{param.label}{': ' + param.help if param.help else ''}{meanings}{limits} (default: %(default)s)"
        if param.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=param.default, help=help_text)
        else:
            default = list(param.default) if param.type is list else param.default
            default = int(default) if param.is_integer and default is not None else default
            parser.add_argument(flag, type=flag_type(name, param), default=default, help=help_text,
                                metavar="NAME[,NAME2]" if param.type is list else None)


def batch_parser() -> argparse.ArgumentParser:
    from modes.batch_png_info import PNG_INFO_FIELDS
    parser = argparse.ArgumentParser(prog="app.py batch", description="img2img / inpaint over a folder of pictures")
    parser.add_argument("--input", required=True, help="folder of pictures, read recursively")
    parser.add_argument("--output", default="", help="output folder, mirroring the input's tree and names "
                                                     "(default: outputs/img2img-images/<date>/)")
    parser.add_argument("--mask-dir", default="", help="masks matched by file stem, or one mask for every picture")
    parser.add_argument("--png-info", action="store_true", help="take parameters from each picture's infotext")
    parser.add_argument("--png-info-dir", default="", help="... or from the file of the same name in this folder")
    parser.add_argument("--png-info-fields", default="Prompt,Negative prompt,Seed,CFG scale,Sampler,Steps",
                        help=f"comma-separated, of: {', '.join(PNG_INFO_FIELDS)}")
    parser.add_argument("--no-resume", action="store_true", help="process pictures whose outputs already exist")
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--ckpt-dir", default="models/Stable-diffusion")
    add_library_arguments(parser)
    parser.add_argument("--outdir", default="outputs", help="used when --output is empty")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-half", action="store_true")
    parser.add_argument("--no-half-vae", action="store_true")
    add_ray_arguments(parser)
    add_job_flags(parser)
    return parser


def run_batch(argv: List[str]) -> int:
    args = batch_parser().parse_args(argv)
    from modes.batch import BatchPathError, BatchRun, BatchSettings, BatchSummary

    params = {name: getattr(args, name) for name, p in declared(Job).items()
              if p.cli and getattr(args, name) is not None}
    settings = BatchSettings(input_dir=args.input, output_dir=args.output, mask_dir=args.mask_dir,
                             png_info=args.png_info or bool(args.png_info_dir), png_info_dir=args.png_info_dir,
                             png_info_fields=[f.strip() for f in args.png_info_fields.split(",") if f.strip()],
                             resume=not args.no_resume)
    try:
        placement = Placement(args.device, half=not args.no_half, half_vae=not args.no_half_vae)
        services = build_services(args.ckpt, folders(args), placement, ray=ray_options(args))
        run = BatchRun(services, settings, params)
    except (ModelLoadError, BatchPathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    show = ConsoleProgress(sys.stderr, services.queue)
    summary = None
    for event in run:
        show(event)
        if isinstance(event, BatchSummary):
            summary = event
    services.close()
    return 1 if summary is None or summary.failed or summary.interrupted else 0


class ConsoleProgress:
    """One line, rewritten in place: files and steps done, and the ETA of the whole batch."""

    def __init__(self, stream, queue):
        self.stream, self.queue = stream, queue
        self.started = time.time()
        self.on_bar_line = False

    def __call__(self, event) -> None:
        from modes.batch import BatchSummary, FileFailed, FileProgress, FileSkipped
        if isinstance(event, FileProgress):
            report = self.queue.progress(None)
            if report is None:
                return
            fraction = batch_fraction(event.index, event.total, report)
            eta = eta_seconds(time.time() - self.started, fraction)
            bar = "#" * int(fraction * 30)
            self.stream.write(f"\r[{bar:<30}] file {event.index + 1}/{event.total} step {report.step}/{report.steps} "
                              f"ETA {int(eta) // 60:02d}:{int(eta) % 60:02d}  ")
            self.stream.flush()
            self.on_bar_line = True
        elif isinstance(event, (FileSkipped, FileFailed, BatchSummary)):
            if self.on_bar_line:
                self.stream.write("\n")
                self.on_bar_line = False
            if isinstance(event, BatchSummary):
                self.stream.write(event.text() + "\n")
            else:
                kind = "skipped" if isinstance(event, FileSkipped) else "failed"
                self.stream.write(f"{kind} {event.rel}: {event.reason}\n")
            self.stream.flush()

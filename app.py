"""Entry point: A1111-style flags, one engine, the UI (and the API) on one server; or a headless batch.

    python app.py [--listen] [--port 7860] [--ckpt PATH|builtin:tiny] [--api] ...   (python app.py --help)
    python app.py batch --input DIR --output DIR [--mask-dir DIR] [--prompt TEXT] ...   (python app.py batch --help)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

log = logging.getLogger("app")
PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))


def add_library_arguments(parser: argparse.ArgumentParser) -> None:
    """A1111's folders for LoRAs, embeddings and VAEs, and its styles file."""
    parser.add_argument("--lora-dir", default="models/Lora", help="LoRA files used by <lora:name:weight> in prompts")
    parser.add_argument("--embeddings-dir", default="embeddings", help="textual-inversion embeddings")
    parser.add_argument("--vae-dir", default="models/VAE", help="VAE files for the sd_vae setting")
    parser.add_argument("--styles-file", default="styles.csv", help="prompt styles (name, prompt, negative_prompt)")


def library_dirs(args: argparse.Namespace) -> dict:
    return dict(lora_dir=args.lora_dir, embeddings_dir=args.embeddings_dir, vae_dir=args.vae_dir,
                styles_file=args.styles_file)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="img2img web UI on diffusers, A1111-style")
    parser.add_argument("--listen", action="store_true", help="listen on 0.0.0.0 so the LAN can reach the server")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--ckpt", default=None,
                        help="a diffusers model folder, a title under --ckpt-dir, a hub id, or builtin:tiny "
                             "(default: the first model under --ckpt-dir, else the built-in model)")
    parser.add_argument("--ckpt-dir", default="models/Stable-diffusion", help="where checkpoints are listed from")
    add_library_arguments(parser)
    parser.add_argument("--outdir", default="outputs", help="root of img2img-images/ and img2img-grids/")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--no-half", action="store_true", help="keep the model in fp32 on a GPU")
    parser.add_argument("--no-half-vae", action="store_true", help="keep the VAE in fp32 on a GPU")
    parser.add_argument("--api", action="store_true", help="serve A1111's /sdapi/v1 API beside the UI")
    parser.add_argument("--nowebui", action="store_true", help="serve the API alone, without the UI")
    parser.add_argument("--api-auth", default=None, metavar="USER:PASS[,USER2:PASS2]",
                        help="HTTP Basic auth on every API route")
    parser.add_argument("--ui-settings-file", default="config.json", help="where settings are kept")
    parser.add_argument("--gradio-auth", default=None, metavar="USER:PASS[,USER2:PASS2]",
                        help="a login page in front of the UI and every route it serves")
    parser.add_argument("--queue-size", type=int, default=64, help="requests the UI queue holds before it is busy")
    parser.add_argument("--batch-roots", default=None, metavar="DIR[,DIR2]",
                        help="the only folders batch may read and write from the browser (default: inputs/ and "
                             "outputs/ of this project)")
    parser.add_argument("--hide-ui-dir-config", action="store_true", help="no folder fields in the browser")
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument("--medvram", action="store_true", help="move whole models to the GPU only while they run")
    memory.add_argument("--lowvram", action="store_true", help="move each layer to the GPU only while it runs")
    return parser.parse_args(argv)


JOB_FLAG_FIELDS = ("prompt", "negative_prompt", "resize_mode", "width", "height", "scale_by", "denoising_strength",
                   "mask_blur", "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding",
                   "inpainting_mask_invert", "initial_noise_multiplier", "sampler_name", "scheduler", "steps",
                   "cfg_scale", "seed", "subseed", "subseed_strength", "seed_resize_from_h", "seed_resize_from_w",
                   "n_iter", "batch_size", "styles")


def parse_batch_args(argv) -> argparse.Namespace:
    """`app.py batch`: the Batch tab without a browser, for cron jobs and scripts; a flag for every Job field."""
    import dataclasses

    from modes.batch import PNG_INFO_FIELDS
    from pipelines import Job

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
    defaults = Job()
    for f in dataclasses.fields(Job):
        if f.name not in JOB_FLAG_FIELDS:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif f.name in ("scale_by", "initial_noise_multiplier"):
            parser.add_argument(flag, type=float, default=None)
        elif f.name == "mask_blur":
            parser.add_argument(flag, type=int, default=4)
        elif f.name == "styles":
            parser.add_argument(flag, type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
                                default=None, metavar="NAME[,NAME2]", help="styles from --styles-file, in order")
        else:
            parser.add_argument(flag, type=type(default) if default is not None else str, default=default)
    return parser.parse_args(argv)


def run_batch(argv) -> int:
    args = parse_batch_args(argv)
    quiet_libraries()
    from modes.batch import BatchPathError, BatchRun, BatchSettings, BatchSummary, ConsoleProgress
    from pipelines import Engine, ModelLoadError

    params = {name: getattr(args, name) for name in JOB_FLAG_FIELDS if getattr(args, name) is not None}
    settings = BatchSettings(input_dir=args.input, output_dir=args.output, mask_dir=args.mask_dir,
                             png_info=args.png_info or bool(args.png_info_dir), png_info_dir=args.png_info_dir,
                             png_info_fields=[f.strip() for f in args.png_info_fields.split(",") if f.strip()],
                             resume=not args.no_resume)
    try:
        engine = Engine(ckpt=args.ckpt, ckpt_dir=args.ckpt_dir, outdir=args.outdir, device=args.device,
                        half=not args.no_half, half_vae=not args.no_half_vae, **library_dirs(args))
        run = BatchRun(engine, settings, params)
    except (ModelLoadError, BatchPathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    show = ConsoleProgress(sys.stderr)
    summary = None
    for event in run:
        show(event)
        if isinstance(event, BatchSummary):
            summary = event
    engine.close()
    return 1 if summary is None or summary.failed or summary.interrupted else 0


def parse_credentials(text: str) -> dict:
    """"user:pass,user2:pass2" -> {user: pass}; a password may contain colons."""
    credentials = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        user, sep, password = pair.partition(":")
        if not sep or not user:
            raise SystemExit(f"credentials must read user:password, not {pair!r}")
        credentials[user] = password
    return credentials


def build_engine(args: argparse.Namespace, settings):
    from pipelines import Engine
    offload = "model" if args.medvram else "sequential" if args.lowvram else None
    return Engine(ckpt=args.ckpt or settings.get("sd_model_checkpoint"), ckpt_dir=args.ckpt_dir, outdir=args.outdir,
                  device=args.device, half=not args.no_half, half_vae=not args.no_half_vae, offload=offload,
                  options=settings.options(), **library_dirs(args))


def build_app(engine, settings, args: argparse.Namespace):
    from fastapi import FastAPI

    app = FastAPI(title="img2img webui", docs_url="/docs")

    @app.get("/health")
    def health():
        return {"status": "ok", "model": engine.checkpoint.title if engine.checkpoint else None}

    if args.api or args.nowebui:
        from api import mount_api
        # Without --api-auth, a login set for the UI guards the API too: no side door around the password.
        api_auth = args.api_auth or args.gradio_auth
        flags = {k: ("<hidden>" if k.endswith("_auth") and v else v) for k, v in vars(args).items()}  # no passwords
        mount_api(app, engine, settings, flags, parse_credentials(api_auth) if api_auth else None)
    if not args.nowebui:
        import gradio as gr

        from ui.blocks import CSS, KEYS_JS, build_blocks
        roots = [r.strip() for r in args.batch_roots.split(",") if r.strip()] if args.batch_roots else \
            [os.path.join(PROJECT_DIR, "inputs"), os.path.join(PROJECT_DIR, "outputs")]
        blocks = build_blocks(engine, roots, args.hide_ui_dir_config)
        # A bounded queue: past it, Gradio answers that the server is busy instead of piling work up.
        blocks.queue(default_concurrency_limit=16, max_size=args.queue_size)
        ui_auth = list(parse_credentials(args.gradio_auth).items()) if args.gradio_auth else None
        app = gr.mount_gradio_app(app, blocks, path="/", auth=ui_auth, head=KEYS_JS, css=CSS,
                                  auth_message="Log in to the img2img server")
    return app


def quiet_libraries() -> None:
    """No per-component progress bars or safety-checker lectures in the console."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["batch"]:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return run_batch(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    quiet_libraries()
    import uvicorn

    from pipelines import ModelLoadError
    from pipelines.settings import SettingsStore
    settings = SettingsStore(args.ui_settings_file)
    try:
        engine = build_engine(args, settings)
    except ModelLoadError as e:
        log.error("%s", e)
        return 2
    app = build_app(engine, settings, args)
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    print(f"Running on local URL:  http://127.0.0.1:{args.port}", flush=True)
    if args.listen:
        print(f"Listening on all interfaces (0.0.0.0:{args.port}): anyone on the network can reach this server.",
              flush=True)
        if not args.gradio_auth and not (args.nowebui and args.api_auth):
            print("WARNING: --listen without --gradio-auth: anyone on the network can use this server, see every "
                  "generated picture and fill the GPU queue. Add --gradio-auth user:password.", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

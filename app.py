"""Entry point: A1111-style flags, one set of services, the UI (and the API) on one server; or a headless batch.

    python app.py [--listen] [--port 7860] [--ckpt PATH|builtin:tiny] [--api] ...   (python app.py --help)
    python app.py batch --input DIR --output DIR [--mask-dir DIR] [--prompt TEXT] ...   (python app.py batch --help)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

import cli

log = logging.getLogger("app")
PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="img2img web UI on diffusers, A1111-style")
    parser.add_argument("--listen", action="store_true", help="listen on 0.0.0.0 so the LAN can reach the server")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--ckpt", default=None,
                        help="a diffusers model folder, a title under --ckpt-dir, a hub id, or builtin:tiny "
                             "(default: the first model under --ckpt-dir, else the built-in model)")
    parser.add_argument("--ckpt-dir", default="models/Stable-diffusion", help="where checkpoints are listed from")
    cli.add_library_arguments(parser)
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
    parser.add_argument("--users-file", default=None, metavar="PATH",
                        help="users who log in to the page and the API, one a line: `admin NAME:PASSWORD` or "
                             "`user NAME:PASSWORD`")
    parser.add_argument("--admins", default=None, metavar="USER[,USER2]",
                        help="logged-in users who may change server-wide settings (the checkpoint, URL fetching, "
                             "paths), see and stop every job; without logins, this machine's own browser is admin")
    parser.add_argument("--max-queued-per-user", type=int, default=8,
                        help="jobs one user (or browser, or address) may have waiting; past it: 429")
    parser.add_argument("--max-queued", type=int, default=64, help="jobs waiting in all; past it: 503")
    parser.add_argument("--max-body-mb", type=int, default=50,
                        help="the largest request body (an API request, an upload) in MB, default 50")
    parser.add_argument("--forwarded-allow-ips", default=None, metavar="IP[,IP2]",
                        help="reverse proxies whose X-Forwarded-For names the client (default: none is trusted)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the UNet's blocks (once per picture size, cached on disk): faster steps "
                             "after a first slow job")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="with --compile: replay the UNet's blocks as CUDA graphs for each fixed picture size")
    parser.add_argument("--vae-tiling", action="store_true",
                        help="encode and decode big pictures in tiles (2048x2048 within 8 GB of GPU memory)")
    cli.add_ray_arguments(parser)
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument("--medvram", action="store_true", help="move whole models to the GPU only while they run")
    memory.add_argument("--lowvram", action="store_true", help="move each layer to the GPU only while it runs")
    return parser.parse_args(argv)


def build_services(args: argparse.Namespace, settings):
    from pipelines import Placement, build_services
    from pipelines.job_queue import QueueLimits
    offload = "model" if args.medvram else "sequential" if args.lowvram else None
    return build_services(args.ckpt or settings.get("sd_model_checkpoint"), cli.folders(args),
                          Placement(args.device, not args.no_half, not args.no_half_vae, offload, args.compile,
                                    args.compile and args.cuda_graphs, args.vae_tiling), settings,
                          QueueLimits(args.max_queued_per_user, args.max_queued), cli.ray_options(args))


def build_app(services, args: argparse.Namespace):
    from fastapi import FastAPI

    from access import Logins
    from api.limits import BodyLimit
    # /docs and /openapi.json are served by the API, behind its credentials
    app = FastAPI(title="img2img webui", docs_url=None, redoc_url=None, openapi_url=None)
    logins = Logins.from_flags(args.gradio_auth, args.api_auth, args.users_file, args.admins)

    @app.get("/health")
    def health():
        return {"status": "ok"}

    if args.api or args.nowebui:
        from api import mount_api
        flags = {k: ("<hidden>" if k.endswith("_auth") and v else v) for k, v in vars(args).items()}  # no passwords
        mount_api(app, services, flags, logins.api, logins.admins)
    if not args.nowebui:
        app = mount_page(app, services, args, logins)
    return BodyLimit(app, args.max_body_mb * 1024 * 1024)


def mount_page(app, services, args: argparse.Namespace, logins):
    """The page at /, behind the guard (access.py) that names each request's user and keeps users apart."""
    import gradio as gr
    from gradio.routes import App
    from gradio.utils import get_upload_folder

    from access import PageGuard
    from ui import CSS, KEYS_JS, build_page
    roots = [r.strip() for r in args.batch_roots.split(",") if r.strip()] if args.batch_roots else \
        [os.path.join(PROJECT_DIR, "inputs"), os.path.join(PROJECT_DIR, "outputs")]
    blocks = build_page(services, roots, args.hide_ui_dir_config)
    # A bounded queue: past it, Gradio answers that the server is busy instead of piling work up.
    blocks.queue(default_concurrency_limit=16, max_size=args.queue_size)
    ui_auth = list(logins.page.items()) if logins.page else None
    app = gr.mount_gradio_app(app, blocks, path="/", auth=ui_auth, head=KEYS_JS, css=CSS,
                              auth_message="Log in to the img2img server", max_file_size=f"{args.max_body_mb}mb")
    # Gradio checks that a file input lies in its upload cache only once it counts as launched, which a mounted
    # Blocks never does: without this, an input could name any file on the server and read it back.
    blocks.has_launched = True
    gradio_app = next(route.app for route in app.routes if isinstance(getattr(route, "app", None), App))
    return PageGuard(app, lambda: gradio_app, bool(logins.page), logins.admins, get_upload_folder())


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
        quiet_libraries()
        return cli.run_batch(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    quiet_libraries()
    import uvicorn

    from pipelines import ModelLoadError
    from pipelines.settings import SettingsStore
    settings = SettingsStore(args.ui_settings_file)
    try:
        services = build_services(args, settings)
    except ModelLoadError as e:
        log.error("%s", e)
        return 2
    app = build_app(services, args)
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    print(f"Running on local URL:  http://127.0.0.1:{args.port}", flush=True)
    if args.listen:
        print(f"Listening on all interfaces (0.0.0.0:{args.port}): anyone on the network can reach this server.",
              flush=True)
        if not (args.gradio_auth or args.api_auth or args.users_file):
            print("WARNING: --listen without --gradio-auth: anyone on the network can use this server, see every "
                  "generated picture and fill the GPU queue. Add --gradio-auth user:password.", flush=True)
    # A client's address is its identity for the API: X-Forwarded-For counts only from a proxy named on purpose.
    uvicorn.run(app, host=host, port=args.port, log_level="warning", proxy_headers=bool(args.forwarded_allow_ips),
                forwarded_allow_ips=args.forwarded_allow_ips or None)
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

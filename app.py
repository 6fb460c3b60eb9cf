"""Entry point: A1111-style flags, one engine, the UI on one server.

    python app.py [--listen] [--port 7860] [--ckpt PATH|builtin:tiny] [--ckpt-dir DIR] [--outdir DIR] [--device cuda]
"""
from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger("app")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="img2img web UI on diffusers, A1111-style")
    parser.add_argument("--listen", action="store_true", help="listen on 0.0.0.0 so the LAN can reach the server")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--ckpt", default=None,
                        help="a diffusers model folder, a title under --ckpt-dir, a hub id, or builtin:tiny "
                             "(default: the first model under --ckpt-dir, else the built-in model)")
    parser.add_argument("--ckpt-dir", default="models/Stable-diffusion", help="where checkpoints are listed from")
    parser.add_argument("--outdir", default="outputs", help="root of img2img-images/ and img2img-grids/")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the first available)")
    parser.add_argument("--no-half", action="store_true", help="keep the model in fp32 on a GPU")
    parser.add_argument("--no-half-vae", action="store_true", help="keep the VAE in fp32 on a GPU")
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument("--medvram", action="store_true", help="move whole models to the GPU only while they run")
    memory.add_argument("--lowvram", action="store_true", help="move each layer to the GPU only while it runs")
    return parser.parse_args(argv)


def build_engine(args: argparse.Namespace):
    from pipelines import Engine
    offload = "model" if args.medvram else "sequential" if args.lowvram else None
    return Engine(ckpt=args.ckpt, ckpt_dir=args.ckpt_dir, outdir=args.outdir, device=args.device,
                  half=not args.no_half, half_vae=not args.no_half_vae, offload=offload)


def build_app(engine):
    import gradio as gr
    from fastapi import FastAPI

    from ui.blocks import build_blocks

    app = FastAPI(title="img2img webui")

    @app.get("/health")
    def health():
        return {"status": "ok", "model": engine.model.info.title if engine.model else None}

    blocks = build_blocks(engine)
    blocks.queue(default_concurrency_limit=8, max_size=64)
    return gr.mount_gradio_app(app, blocks, path="/")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    import uvicorn

    from pipelines import ModelLoadError
    try:
        engine = build_engine(args)
    except ModelLoadError as e:
        log.error("%s", e)
        return 2
    app = build_app(engine)
    host = "0.0.0.0" if args.listen else "127.0.0.1"
    print(f"Running on local URL:  http://127.0.0.1:{args.port}", flush=True)
    if args.listen:
        print(f"Listening on all interfaces (0.0.0.0:{args.port}): anyone on the network can use this server.",
              flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

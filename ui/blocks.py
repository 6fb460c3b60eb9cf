"""The browser page. For now the img2img tab alone: a picture, a prompt, Generate, a gallery that fills as each
picture is saved, and a progress line. The other tabs and the full parameter panel come with the UI issue."""
from __future__ import annotations

import gradio as gr

import modes
from pipelines import Done, Engine, Failed, Notice, Progress, Result, sampler_names


def build_blocks(engine: Engine) -> gr.Blocks:
    def generate(image, prompt, negative_prompt, sampler_name, steps, cfg_scale, denoising_strength, seed, width,
                 height, request: gr.Request):
        if image is None:
            raise gr.Error("Upload a picture first.")
        job = modes.img2img.make_job(image, prompt=prompt, negative_prompt=negative_prompt, sampler_name=sampler_name,
                                     steps=int(steps), cfg_scale=float(cfg_scale),
                                     denoising_strength=float(denoising_strength), seed=int(seed), width=int(width),
                                     height=int(height))
        handle = engine.submit(job, owner=request.session_hash if request else None)
        gallery, status = [], "Queued"
        for event in handle:
            if isinstance(event, Progress):
                status = f"Step {event.step}/{event.steps}"
            elif isinstance(event, Result):
                gallery.append((event.image, f"Seed {event.seed}"))
                status = event.infotext
            elif isinstance(event, Notice):
                gr.Info(event.message)
            elif isinstance(event, Failed):
                raise gr.Error(event.error)
            elif isinstance(event, Done):
                status = event.infotexts[0] if event.infotexts else "Nothing was made"
            yield gallery, status

    with gr.Blocks(title="img2img") as blocks:
        for notice in engine.notices:
            gr.Markdown(f"**Note:** {notice}")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="pil", label="Image for img2img", image_mode="RGBA", format="png")
                prompt = gr.Textbox(label="Prompt", lines=3)
                negative_prompt = gr.Textbox(label="Negative prompt", lines=3)
                sampler_name = gr.Dropdown(sampler_names(), value="DPM++ 2M", label="Sampling method")
                steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps")
                with gr.Row():
                    width = gr.Slider(64, 2048, value=512, step=8, label="Width")
                    height = gr.Slider(64, 2048, value=512, step=8, label="Height")
                cfg_scale = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale")
                denoising_strength = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength")
                seed = gr.Number(value=-1, precision=0, label="Seed")
                button = gr.Button("Generate", variant="primary")
            with gr.Column():
                gallery = gr.Gallery(label="Output", columns=4, format="png")
                status = gr.Textbox(label="Generation info", lines=4, interactive=False)
        button.click(generate, [image, prompt, negative_prompt, sampler_name, steps, cfg_scale, denoising_strength,
                                seed, width, height], [gallery, status], api_name="img2img")
    return blocks

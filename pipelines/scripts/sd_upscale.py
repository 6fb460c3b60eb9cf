"""SD upscale (A1111's `scripts/sd_upscale.py`): the init picture enlarged by an upscaler, cut into W x H tiles that
overlap, each tile img2img'd, and the tiles joined again with their overlaps blended."""
from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from ..events import Done
from ..imageops import flatten
from ..infotext import create_infotext
from ..job import Job, JobError
from ..noise import fixed_seed
from ..params import InputField
from ..tiles import combine_grid, split_grid
from .base import Script, ScriptContext, combined_done, sub_job


@dataclass
class SDUpscaleArgs:
    info: str = InputField("", label="Info", page=False,
                           help="Will upscale the image by the selected scale factor; use width and height sliders "
                                "to set tile size")
    overlap: int = InputField(64, label="Tile overlap", ge=0, le=2048, ui=(0, 256, 16))
    upscaler_index: str = InputField("None", label="Upscaler", choices_from="upscalers",
                                     help="a name, or its index in /sdapi/v1/upscalers")
    scale_factor: float = InputField(2.0, label="Scale Factor", ge=1, le=8, ui=(1, 4, 0.05))


class SDUpscale(Script):
    title = "SD upscale"
    Args = SDUpscaleArgs

    def check(self, job: Job) -> None:
        if not job.init_images:
            raise JobError("SD upscale needs an init image")
        if self.args.overlap >= min(job.target_size()):
            raise JobError(f"SD upscale: the tile overlap ({self.args.overlap}) must be smaller than the tile "
                           f"size {job.target_size()[0]}x{job.target_size()[1]}")

    def run(self, job: Job, context: ScriptContext) -> Done:
        a, opts = self.args, context.options
        upscaler = context.upscalers.find(a.upscaler_index)
        job = sub_job(job, seed=fixed_seed(job.seed), extra_generation_params=dict(
            job.extra_generation_params, **{"SD upscale overlap": a.overlap, "SD upscale upscaler": upscaler.name}))
        image = flatten(job.init_images[0], opts.img2img_background_color)
        if upscaler.name != "None":
            image = context.upscalers.upscale(image, a.scale_factor, upscaler.name, opts.ESRGAN_tile,
                                              opts.ESRGAN_tile_overlap)
        width, height = job.target_size()
        grid = split_grid(image, width, height, a.overlap)
        tiles = grid.images()
        batches = math.ceil(len(tiles) / job.batch_size)
        context.job_count = batches * job.n_iter
        results, infotexts, seeds, first = [], [], [], None
        for n in range(job.n_iter):
            start_seed = seed = job.seed + n
            done_tiles = []
            for i in range(batches):
                part = tiles[i * job.batch_size:(i + 1) * job.batch_size]
                done = context.process(sub_job(job, init_images=part, batch_size=job.batch_size, n_iter=1,
                                               seed=seed, do_not_save_samples=True, do_not_save_grid=True),
                                       stream=False)
                first = first or done
                seed = done.seeds[0] + 1 if done.seeds else seed + 1
                done_tiles += done.images
                if done.interrupted:
                    break
            if context.interrupted or first is None or not done_tiles:
                break
            for row in grid.rows:
                for tile in row.tiles:
                    tile.image = done_tiles.pop(0) if done_tiles else Image.new("RGB", (width, height))
            combined = combine_grid(grid)
            infotext = first.infotexts[0] if first.infotexts else create_infotext(job.prompt, job.negative_prompt, {})
            context.show(job, combined, infotext, start_seed)
            results.append(combined)
            infotexts.append(infotext)
            seeds.append(start_seed)
        if first is None:
            return combined_done(None, [], [], [])
        return combined_done(first, results, infotexts, seeds, context.interrupted)

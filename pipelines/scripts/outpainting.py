"""Outpainting mk2 and Poor man's outpainting (A1111's `scripts/outpainting_mk_2.py`, `poor_mans_outpainting.py`): the
picture widened to a multiple of 64 toward the chosen directions, and the new border inpainted, with a blend mask
(`latent_mask`) narrower than the picture's mask."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Tuple

from PIL import Image, ImageDraw

from ..choices import MaskedContent
from ..events import Done
from ..imageops import image_grid
from ..job import Job, JobError
from ..params import InputField
from ..tiles import combine_grid, split_grid
from .base import Script, ScriptContext, combined_done, sub_job
from .matched_noise import matched_noise_image

DIRECTIONS = ("left", "right", "up", "down")


def expansion(image: Image.Image, pixels: int, directions: List[str]) -> Tuple[int, int, int, int]:
    """(left, right, up, down): `pixels` toward each direction, grown so the new size is a multiple of 64."""
    left, right, up, down = (pixels if d in directions else 0 for d in DIRECTIONS)
    target_w = math.ceil((image.width + left + right) / 64) * 64
    target_h = math.ceil((image.height + up + down) / 64) * 64
    if left > 0:
        left = left * (target_w - image.width) // (left + right)
    if right > 0:
        right = target_w - image.width - left
    if up > 0:
        up = up * (target_h - image.height) // (up + down)
    if down > 0:
        down = target_h - image.height - up
    return left, right, up, down


def keep_box(mask: Image.Image, box: Tuple[int, int, int, int]) -> None:
    """Paint the part of the picture that is kept black in a white (repaint) mask; an empty box keeps nothing."""
    if box[2] >= box[0] and box[3] >= box[1]:
        ImageDraw.Draw(mask).rectangle(box, fill="black")


def _check_outpainting(title: str, job: Job, directions: List[str]) -> None:
    if not job.init_images:
        raise JobError(f"{title} needs an init image")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown or not directions:
        raise JobError(f"{title}: the directions must be some of {', '.join(DIRECTIONS)}, not {directions!r}")


@dataclass
class OutpaintingArgs:
    info: str = InputField("", label="Info", page=False,
                           help="Recommended settings: Sampling Steps: 80-100, Sampler: Euler a, Denoising strength: "
                                "0.8")
    pixels: int = InputField(128, label="Pixels to expand", ge=8, le=256, ui=(8, 256, 8))
    mask_blur: int = InputField(8, label="Mask blur", ge=0, le=64, ui=(0, 64, 1))
    direction: List[str] = InputField(list(DIRECTIONS), label="Outpainting direction", choices=DIRECTIONS)
    noise_q: float = InputField(1.0, label="Fall-off exponent (lower=higher detail)", ge=0, le=4, ui=(0, 4, 0.01))
    color_variation: float = InputField(0.05, label="Color variation", ge=0, le=1, ui=(0, 1, 0.01))


@dataclass
class _Side:
    """One direction's expansion: how many pixels, and which edge."""
    pixels: int
    left: bool = False
    right: bool = False
    top: bool = False
    bottom: bool = False
    horizontal: bool = field(init=False)

    def __post_init__(self):
        self.horizontal = self.left or self.right


class OutpaintingMk2(Script):
    title = "Outpainting mk2"
    Args = OutpaintingArgs

    def check(self, job: Job) -> None:
        _check_outpainting(self.title, job, self.args.direction)

    def run(self, job: Job, context: ScriptContext) -> Done:
        a = self.args
        left, right, up, down = expansion(job.init_images[0], a.pixels, a.direction)
        sides = [s for s in (_Side(left, left=True), _Side(right, right=True), _Side(up, top=True),
                             _Side(down, bottom=True)) if s.pixels > 0]
        batches, n = job.n_iter, job.batch_size
        tiles_job = sub_job(job, mask_blur=a.mask_blur * 4, inpaint_full_res=False,
                            inpainting_fill=MaskedContent.ORIGINAL, do_not_save_samples=True, do_not_save_grid=True,
                            n_iter=1)
        context.job_count = batches * len(sides)
        pictures, first = [], None
        for _ in range(batches):
            current = [job.init_images[0]] * n
            for side in sides:
                current, done = self.expand(tiles_job, context, current, side)
                first = first or done
                if context.interrupted:
                    break
            pictures += current
            if context.interrupted:
                break
        return finish_outpainting(job, context, pictures, first)

    def expand(self, job: Job, context: ScriptContext, images: List[Image.Image], side: _Side):
        """Widen each picture by one side's pixels (filled with matched noise) and inpaint the new strip."""
        a, pixels = self.args, side.pixels
        dx, dy = (pixels, 0) if side.horizontal else (0, pixels)
        width, height = job.target_size()
        outputs, crops, mask = [], [], None
        for image in images:
            res_w, res_h = image.width + dx, image.height + dy
            canvas = Image.new("RGB", (math.ceil(res_w / 64) * 64, math.ceil(res_h / 64) * 64))
            canvas.paste(image, (dx if side.left else 0, dy if side.top else 0))
            mask = Image.new("RGB", canvas.size, "white")
            keep_box(mask, (pixels + a.mask_blur if side.left else 0, pixels + a.mask_blur if side.top else 0,
                            mask.width - pixels - a.mask_blur if side.right else res_w,
                            mask.height - pixels - a.mask_blur if side.bottom else res_h))
            outputs.append(matched_noise_image(canvas, mask, a.noise_q, a.color_variation))
            target_w = min(width, image.width + dx) if side.horizontal else canvas.width
            target_h = min(height, image.height + dy) if not side.horizontal else canvas.height
            crop = (0 if side.left else canvas.width - target_w, 0 if side.top else canvas.height - target_h,
                    target_w if side.left else canvas.width, target_h if side.top else canvas.height)
            crops.append(outputs[-1].crop(crop))
            mask = mask.crop(crop)
        latent_mask = Image.new("RGB", crops[0].size, "white")
        edge = pixels + a.mask_blur * 2
        keep_box(latent_mask, (edge if side.left else 0, edge if side.top else 0, mask.width - edge if side.right
                               else res_w, mask.height - edge if side.bottom else res_h))
        done = context.process(sub_job(job, init_images=crops, mask=mask, latent_mask=latent_mask,
                                       width=crops[0].width, height=crops[0].height, scale_by=None), stream=False)
        for i, output in enumerate(outputs):
            if i < len(done.images):
                result = done.images[i]
                output.paste(result, (0 if side.left else output.width - result.width,
                                      0 if side.top else output.height - result.height))
            outputs[i] = output.crop((0, 0, images[i].width + dx, images[i].height + dy))
        return outputs, done


def finish_outpainting(job: Job, context: ScriptContext, pictures: List[Image.Image], first) -> Done:
    """Save (as the script's job says) and show the widened pictures and their grid; A1111's result for the API."""
    if first is None:
        return combined_done(None, [], [], [])
    infotext, seed = first.infotexts[0], first.seeds[0]
    for picture in pictures:
        context.show(job, picture, infotext, seed)
    images, grids = list(pictures), 0
    if len(pictures) > 1:
        grid = image_grid(pictures)
        context.show(job, grid, infotext, seed, grid=True)
        if context.options.return_grid:
            images, grids = [grid] + images, 1
    return combined_done(first, images, [infotext] * len(images), [seed] * len(images), context.interrupted, grids)


@dataclass
class PoorMansArgs:
    pixels: int = InputField(128, label="Pixels to expand", ge=8, le=256, ui=(8, 256, 8))
    mask_blur: int = InputField(4, label="Mask blur", ge=0, le=64, ui=(0, 64, 1))
    inpainting_fill: int = InputField(MaskedContent.FILL, label="Masked content")
    direction: List[str] = InputField(list(DIRECTIONS), label="Outpainting direction", choices=DIRECTIONS)


class PoorMansOutpainting(Script):
    title = "Poor man's outpainting"
    Args = PoorMansArgs

    def check(self, job: Job) -> None:
        _check_outpainting(self.title, job, self.args.direction)
        width, height = job.target_size()
        if self.args.pixels >= min(width, height):
            raise JobError(f"{self.title}: the pixels to expand ({self.args.pixels}) are the tiles' overlap and must "
                           f"be less than the tile size {width}x{height}")

    def run(self, job: Job, context: ScriptContext) -> Done:
        a = self.args
        image = job.init_images[0]
        left, right, up, down = expansion(image, a.pixels, a.direction)
        canvas = Image.new("RGB", (image.width + left + right, image.height + up + down))
        canvas.paste(image, (left, up))
        blur = a.mask_blur
        mask = Image.new("L", canvas.size, "white")
        keep_box(mask, (left + (blur * 2 if left else 0), up + (blur * 2 if up else 0),
                        mask.width - right - (blur * 2 if right else 0),
                        mask.height - down - (blur * 2 if down else 0)))
        latent_mask = Image.new("L", canvas.size, "white")
        keep_box(latent_mask, (left + (blur // 2 if left else 0), up + (blur // 2 if up else 0),
                               mask.width - right - (blur // 2 if right else 0),
                               mask.height - down - (blur // 2 if down else 0)))
        width, height = job.target_size()
        grids = [split_grid(picture, width, height, a.pixels) for picture in (canvas, mask, latent_mask)]
        inside = (left, up, canvas.width - right, canvas.height - down)
        work = [(row.y, row.height, t) for row in grids[0].rows for t in row.tiles
                if not _within(t.x, row.y, t.width, row.height, inside)]
        masks = [t.image for g in grids[1:] for t in _outer_tiles(g, inside)]
        tile_masks, tile_latent_masks = masks[:len(work)], masks[len(work):]
        tiles_job = sub_job(job, mask_blur=blur * 2, inpainting_fill=a.inpainting_fill, inpaint_full_res=False,
                            n_iter=1, batch_size=1, do_not_save_samples=True, do_not_save_grid=True)
        context.job_count = len(work)
        seed, first = job.seed, None
        for (_, _, tile), tile_mask, tile_latent in zip(work, tile_masks, tile_latent_masks):
            done = context.process(sub_job(tiles_job, init_images=[tile.image], mask=tile_mask,
                                           latent_mask=tile_latent, seed=seed, scale_by=None), stream=False)
            if context.interrupted or not done.images:
                break
            first = first or done
            seed = done.seeds[0] + 1
            tile.image = done.images[0]
        if first is None:
            return combined_done(None, [], [], [])
        combined = combine_grid(grids[0])
        context.show(job, combined, first.infotexts[0], first.seeds[0])
        return combined_done(first, [combined], first.infotexts[:1], first.seeds[:1], context.interrupted)


def _within(x: int, y: int, w: int, h: int, inside: Tuple[int, int, int, int]) -> bool:
    return x >= inside[0] and x + w <= inside[2] and y >= inside[1] and y + h <= inside[3]


def _outer_tiles(grid, inside):
    return [t for row in grid.rows for t in row.tiles if not _within(t.x, row.y, t.width, row.height, inside)]

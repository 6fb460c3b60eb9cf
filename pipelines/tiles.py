"""Tiles and annotated grids, as A1111's `images.py` makes them: `split_grid` / `combine_grid` (SD upscale, poor man's
outpainting, tiled upscalers: overlapping tiles blended linearly across the overlap) and the legends of X/Y/Z plots and
prompt matrices (`draw_grid_annotations`). Plain PIL and numpy."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .imageops import image_grid


@dataclass
class Tile:
    x: int
    width: int
    image: Image.Image


@dataclass
class TileRow:
    y: int
    height: int
    tiles: List[Tile]


@dataclass
class Grid:
    rows: List[TileRow]
    tile_w: int
    tile_h: int
    image_w: int
    image_h: int
    overlap: int

    def images(self) -> List[Image.Image]:
        return [tile.image for row in self.rows for tile in row.tiles]

    def scaled(self, factor: int) -> "Grid":
        """The same layout at `factor` times the size (the tiles' images are left as they are)."""
        rows = [TileRow(r.y * factor, r.height * factor,
                        [Tile(t.x * factor, t.width * factor, t.image) for t in r.tiles]) for r in self.rows]
        return Grid(rows, self.tile_w * factor, self.tile_h * factor, self.image_w * factor, self.image_h * factor,
                    self.overlap * factor)


def split_grid(image: Image.Image, tile_w: int = 512, tile_h: int = 512, overlap: int = 64) -> Grid:
    """Tiles of tile_w x tile_h covering the picture, spread evenly, neighbours sharing at least `overlap` pixels."""
    w, h = image.size
    cols = math.ceil((w - overlap) / (tile_w - overlap))
    rows = math.ceil((h - overlap) / (tile_h - overlap))
    dx = (w - tile_w) / (cols - 1) if cols > 1 else 0
    dy = (h - tile_h) / (rows - 1) if rows > 1 else 0
    grid = Grid([], tile_w, tile_h, w, h, overlap)
    for row in range(rows):
        y = int(row * dy)
        if y + tile_h >= h:
            y = h - tile_h
        tiles = []
        for col in range(cols):
            x = int(col * dx)
            if x + tile_w >= w:
                x = w - tile_w
            tiles.append(Tile(x, tile_w, image.crop((x, y, x + tile_w, y + tile_h))))
        grid.rows.append(TileRow(y, tile_h, tiles))
    return grid


def _ramp(length: int, overlap: int, horizontal: bool) -> Image.Image:
    r = np.arange(overlap, dtype=np.float32)
    r = r.reshape((1, overlap)).repeat(length, axis=0) if horizontal else r.reshape((overlap, 1)).repeat(length, axis=1)
    return Image.fromarray((r * 255 / overlap).astype(np.uint8), "L")


def combine_grid(grid: Grid) -> Image.Image:
    """The tiles pasted back: each tile's first `overlap` pixels fade in linearly over its left (then upper)
    neighbour."""
    combined = Image.new("RGB", (grid.image_w, grid.image_h))
    mask_w = _ramp(grid.tile_h, grid.overlap, True) if grid.overlap else None
    mask_h = _ramp(grid.image_w, grid.overlap, False) if grid.overlap else None
    for row in grid.rows:
        combined_row = Image.new("RGB", (grid.image_w, row.height))
        for tile in row.tiles:
            if tile.x == 0 or not grid.overlap:
                combined_row.paste(tile.image, (tile.x, 0))
                continue
            combined_row.paste(tile.image.crop((0, 0, grid.overlap, row.height)), (tile.x, 0), mask=mask_w)
            combined_row.paste(tile.image.crop((grid.overlap, 0, tile.width, row.height)), (tile.x + grid.overlap, 0))
        if row.y == 0 or not grid.overlap:
            combined.paste(combined_row, (0, row.y))
            continue
        combined.paste(combined_row.crop((0, 0, combined_row.width, grid.overlap)), (0, row.y), mask=mask_h)
        combined.paste(combined_row.crop((0, grid.overlap, combined_row.width, row.height)),
                       (0, row.y + grid.overlap))
    return combined


# ---------------------------------------------------------------------------------------------------------------------
# legends

@dataclass
class GridAnnotation:
    text: str = ""
    is_active: bool = True
    size: tuple = field(default=(0, 0))


def legend_font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans where the system has it, else Pillow's own scalable font (A1111 ships Roboto)."""
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _wrap(drawing: ImageDraw.ImageDraw, text: str, font, line_length: float) -> List[str]:
    lines = [""]
    for word in text.split():
        line = f"{lines[-1]} {word}".strip()
        if drawing.textlength(line, font=font) <= line_length:
            lines[-1] = line
        else:
            lines.append(word)
    return lines


def _measure(texts: List[List[GridAnnotation]], widths: Sequence[float], font) -> None:
    """Wrap each cell's lines to its width and note each line's size (in place)."""
    drawing = ImageDraw.Draw(Image.new("RGB", (1, 1), "white"))
    for lines, allowed in zip(texts, widths):
        wrapped = [GridAnnotation(part, line.is_active) for line in lines
                   for part in _wrap(drawing, line.text, font, allowed)]
        for line in wrapped:
            box = drawing.multiline_textbbox((0, 0), line.text, font=font)
            line.size = (box[2] - box[0], box[3] - box[1])
        lines[:] = wrapped


def draw_grid_annotations(im: Image.Image, width: int, height: int, hor_texts: List[List[GridAnnotation]],
                          ver_texts: List[List[GridAnnotation]], margin: int = 0) -> Image.Image:
    """A1111's legends: column titles above, row titles at the left (greyed and struck through when inactive), with
    `margin` pixels between the cells."""
    fontsize = (width + height) // 25
    spacing = fontsize // 2
    font = legend_font(fontsize)
    pad_left = 0 if sum(len(line.text) for lines in ver_texts for line in lines) == 0 else width * 3 // 4
    cols, rows = im.width // width, im.height // height
    if cols != len(hor_texts) or rows != len(ver_texts):
        raise ValueError(f"legends for {len(hor_texts)}x{len(ver_texts)} cells on a grid of {cols}x{rows}")
    _measure(hor_texts, [width] * len(hor_texts), font)
    _measure(ver_texts, [pad_left] * len(ver_texts), font)
    hor_heights = [sum(line.size[1] + spacing for line in lines) - spacing for lines in hor_texts]
    ver_heights = [sum(line.size[1] + spacing for line in lines) - spacing * len(lines) for lines in ver_texts]
    pad_top = 0 if sum(hor_heights) == 0 else max(hor_heights) + spacing * 2
    result = Image.new("RGB", (im.width + pad_left + margin * (cols - 1), im.height + pad_top + margin * (rows - 1)),
                       "white")
    for row in range(rows):
        for col in range(cols):
            cell = im.crop((width * col, height * row, width * (col + 1), height * (row + 1)))
            result.paste(cell, (pad_left + (width + margin) * col, pad_top + (height + margin) * row))
    drawing = ImageDraw.Draw(result)
    for col in range(cols):
        _draw_lines(drawing, font, spacing, pad_left + (width + margin) * col + width / 2,
                    pad_top / 2 - hor_heights[col] / 2, hor_texts[col])
    for row in range(rows):
        _draw_lines(drawing, font, spacing, pad_left / 2,
                    pad_top + (height + margin) * row + height / 2 - ver_heights[row] / 2, ver_texts[row])
    return result


def _draw_lines(drawing: ImageDraw.ImageDraw, font, spacing: int, x: float, y: float,
                lines: List[GridAnnotation]) -> None:
    active, inactive = (0, 0, 0), (153, 153, 153)
    for line in lines:
        drawing.multiline_text((x, y + line.size[1] / 2), line.text, font=font,
                               fill=active if line.is_active else inactive, anchor="mm", align="center")
        if not line.is_active:
            drawing.line((x - line.size[0] // 2, y + line.size[1] // 2, x + line.size[0] // 2, y + line.size[1] // 2),
                         fill=inactive, width=4)
        y += line.size[1] + spacing


def draw_prompt_matrix(im: Image.Image, width: int, height: int, all_prompts: Sequence[str],
                       margin: int = 0) -> Image.Image:
    """A prompt matrix's legends: the first half of the optional parts across, the rest down, each shown active
    where the cell's combination includes it."""
    prompts = list(all_prompts[1:])
    boundary = math.ceil(len(prompts) / 2)
    across, down = prompts[:boundary], prompts[boundary:]
    hor = [[GridAnnotation(x, pos & (1 << i) != 0) for i, x in enumerate(across)] for pos in range(1 << len(across))]
    ver = [[GridAnnotation(x, pos & (1 << i) != 0) for i, x in enumerate(down)] for pos in range(1 << len(down))]
    return draw_grid_annotations(im, width, height, hor, ver, margin)


def labelled_grid(images: Sequence[Image.Image], rows: int, hor: Sequence[str], ver: Sequence[str],
                  margin: int = 0, legend: bool = True) -> Image.Image:
    """A grid of `rows` rows with a title over each column and beside each row."""
    grid = image_grid(images, rows=rows)
    if not legend:
        return grid
    width, height = max(i.width for i in images), max(i.height for i in images)
    return draw_grid_annotations(grid, width, height, [[GridAnnotation(t)] for t in hor],
                                 [[GridAnnotation(t)] for t in ver], margin)

"""Tiles and legends as A1111's images.py makes them: exact positions and blends."""
import numpy as np
from PIL import Image

from pipelines.tiles import combine_grid, draw_grid_annotations, GridAnnotation, split_grid
from tests.helpers import noise_image, pixels


def test_split_grid_spreads_tiles_evenly_with_at_least_the_overlap():
    grid = split_grid(noise_image(128, 96), 64, 64, 8)
    assert [t.x for t in grid.rows[0].tiles] == [0, 32, 64]  # ceil(120 / 56) = 3 columns, dx = 64 / 2
    assert [r.y for r in grid.rows] == [0, 32]  # ceil(88 / 56) = 2 rows, the last one flush with the bottom
    assert all(t.image.size == (64, 64) for r in grid.rows for t in r.tiles)
    assert np.array_equal(pixels(grid.rows[1].tiles[2].image), pixels(noise_image(128, 96))[32:96, 64:128])


def test_combine_grid_of_untouched_tiles_is_the_picture():
    image = noise_image(150, 100, seed=2)
    assert np.array_equal(pixels(combine_grid(split_grid(image, 64, 64, 16))), pixels(image))


def test_combine_grid_fades_linearly_across_the_overlap():
    grid = split_grid(Image.new("RGB", (120, 64)), 64, 64, 8)
    grid.rows[0].tiles[0].image = Image.new("RGB", (64, 64), "black")
    grid.rows[0].tiles[1].image = Image.new("RGB", (64, 64), "white")
    combined = pixels(combine_grid(grid))
    x = grid.rows[0].tiles[1].x
    assert x == 56
    ramp = (np.arange(8, dtype=np.float32) * 255 / 8).astype(np.uint8)  # A1111's mask: r * 255 / overlap
    assert np.array_equal(combined[10, x:x + 8, 0], ramp)
    assert (combined[:, :x, 0] == 0).all() and (combined[:, x + 8:, 0] == 255).all()


def test_legends_pad_the_grid_and_keep_margins_between_cells():
    grid = Image.new("RGB", (128, 64), "red")
    annotated = draw_grid_annotations(grid, 64, 64, [[GridAnnotation("a")], [GridAnnotation("b")]],
                                      [[GridAnnotation("row")]], margin=10)
    pad_left = 64 * 3 // 4
    assert annotated.width == 128 + pad_left + 10
    pad_top = annotated.height - 64
    assert pad_top > 0
    cells = pixels(annotated)
    assert (cells[pad_top:, pad_left:pad_left + 64] == [255, 0, 0]).all()
    assert (cells[pad_top:, pad_left + 64:pad_left + 74] == 255).all()  # the white margin
    assert (cells[pad_top:, pad_left + 74:] == [255, 0, 0]).all()

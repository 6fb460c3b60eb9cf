"""Pure image operations against the reference's formulas (reference 3.2 to 3.6, 3.12)."""

import numpy as np
import pytest
from PIL import Image

from pipelines import imageops
from tests.helpers import noise_image, pixels, rect_mask


# -- resize modes ----------------------------------------------------------------------------------------------------

def test_just_resize_stretches_to_the_size():
    im = noise_image(200, 100)
    out = imageops.resize_image(0, im, 64, 96)
    assert out.size == (64, 96)
    assert np.array_equal(pixels(out), pixels(im.resize((64, 96), Image.LANCZOS)))


def test_crop_and_resize_covers_and_centres_a_wide_picture():
    im = noise_image(200, 100)
    out = imageops.resize_image(1, im, 100, 100)
    # ratio 1 <= src ratio 2: resized to (200*100//100, 100) = (200, 100), pasted at (50 - 100, 0)
    expected = im.resize((200, 100), Image.LANCZOS).crop((50, 0, 150, 100))
    assert out.size == (100, 100)
    assert np.array_equal(pixels(out), pixels(expected))


def test_crop_and_resize_covers_and_centres_a_tall_picture():
    im = noise_image(90, 300)
    out = imageops.resize_image(1, im, 120, 100)
    # ratio 1.2 > src ratio 0.3: resized to (120, 300*120//90) = (120, 400), pasted at (0, 50 - 200)
    expected = im.resize((120, 400), Image.LANCZOS).crop((0, 150, 120, 250))
    assert np.array_equal(pixels(out), pixels(expected))


def test_resize_and_fill_letterboxes_and_stretches_the_edge_rows():
    im = noise_image(200, 100)
    out = pixels(imageops.resize_image(2, im, 100, 100))
    resized = im.resize((100, 50), Image.LANCZOS)  # fits: (100, 100*100//200)
    assert np.array_equal(out[25:75], pixels(resized))  # pasted at y = 50 - 25
    # fill_height = 25: the first row stretched up, the last row stretched down, each band constant down a column
    assert np.array_equal(out[0:25], pixels(resized.resize((100, 25), box=(0, 0, 100, 0))))
    assert np.array_equal(out[75:100], pixels(resized.resize((100, 25), box=(0, 50, 100, 50))))
    assert (out[0:25] == out[0:1]).all() and (out[75:] == out[99:100]).all()


def test_resize_and_fill_stretches_the_edge_columns_of_a_tall_picture():
    im = noise_image(100, 200)
    out = pixels(imageops.resize_image(2, im, 100, 100))
    resized = im.resize((50, 100), Image.LANCZOS)
    assert np.array_equal(out[:, 25:75], pixels(resized))
    assert (out[:, 0:25] == out[:, 0:1]).all() and (out[:, 75:] == out[:, 99:100]).all()


def test_resize_and_fill_of_the_same_ratio_is_a_plain_resize():
    im = noise_image(200, 100)
    assert np.array_equal(pixels(imageops.resize_image(2, im, 100, 50)), pixels(im.resize((100, 50), Image.LANCZOS)))


def test_latent_upscale_mode_resizes_like_fill_when_asked_to_resize_pixels():
    im = noise_image(200, 100)
    assert np.array_equal(pixels(imageops.resize_image(3, im, 100, 100)),
                          pixels(imageops.resize_image(2, im, 100, 100)))


@pytest.mark.parametrize("size, scale, expected", [((1000, 750), 0.5, (496, 368)), ((512, 512), 1.0, (512, 512)),
                                                   ((640, 480), 1.3, (832, 624)), ((333, 200), 2, (664, 400))])
def test_resize_by_rounds_down_to_a_multiple_of_8(size, scale, expected):
    assert imageops.scaled_size(*size, scale) == expected


# -- masks -----------------------------------------------------------------------------------------------------------

def test_binary_mask_uses_alpha_when_not_opaque_thresholded_at_128():
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    for x, a in enumerate((0, 128, 129, 255)):
        rgba.putpixel((x, 0), (0, 0, 0, a))  # black strokes: luminance would say "keep"
    assert list(imageops.create_binary_mask(rgba).get_flattened_data()) == [0, 0, 255, 255]
    assert list(imageops.create_binary_mask(rgba, round=False).get_flattened_data()) == [0, 128, 129, 255]


def test_binary_mask_uses_luminance_of_an_opaque_picture():
    rgb = Image.new("RGB", (3, 1))
    for x, c in enumerate(((0, 0, 0), (255, 255, 255), (100, 100, 100))):
        rgb.putpixel((x, 0), c)
    assert list(imageops.create_binary_mask(rgb).get_flattened_data()) == [0, 255, 100]
    assert list(imageops.create_binary_mask(rgb.convert("RGBA")).get_flattened_data()) == [0, 255, 100]


def test_mask_blur_kernel_is_a1111s():
    assert imageops.blur_kernel_size(4) == 21
    assert imageops.blur_kernel_size(1) == 7
    assert imageops.blur_kernel_size(16) == 81


def test_mask_blur_is_a_gaussian_of_sigma_blur_cut_at_the_kernel():
    line = np.zeros((8, 101), np.uint8)
    line[:, 50] = 255
    out = np.asarray(imageops.blur_mask(Image.fromarray(line), 4, 0)).astype(float)
    row = out[3]
    assert (out == row).all()  # horizontal only: every row the same
    assert np.count_nonzero(row) == 21 and row[40] > 0 and row[39] == 0 and row[61] == 0
    weights = np.exp(-np.arange(-10, 11) ** 2 / (2 * 16))
    assert np.allclose(row[40:61], 255 * weights / weights.sum(), atol=1)  # cv2's 8-bit fixed-point kernel


def test_mask_blur_y_blurs_vertically():
    line = np.zeros((101, 8), np.uint8)
    line[50, :] = 255
    out = np.asarray(imageops.blur_mask(Image.fromarray(line), 0, 2)).astype(float)
    assert np.count_nonzero(out[:, 0]) == imageops.blur_kernel_size(2)


def test_crop_region_pads_and_clamps():
    mask = rect_mask(300, 200, (100, 100, 150, 150))
    assert imageops.crop_region_for_mask(mask, 0) == (100, 100, 150, 150)
    assert imageops.crop_region_for_mask(mask, 32) == (68, 68, 182, 182)
    assert imageops.crop_region_for_mask(mask, 64) == (36, 36, 214, 200)
    assert imageops.crop_region_for_mask(Image.new("L", (10, 10)), 32) is None


def test_expand_crop_region_grows_to_the_processing_ratio():
    # 114x114 box, processing 512x256 (ratio 2): width grows by int(114*2 - 114) = 114, split 57 / 57
    assert imageops.expand_crop_region((68, 68, 182, 182), 512, 256, 1024, 768) == (11, 68, 239, 182)
    # 100x50 box, processing 256x512 (ratio 0.5): height grows by int(100/0.5 - 50) = 150, split 75 / 75
    assert imageops.expand_crop_region((100, 300, 200, 350), 256, 512, 1024, 768) == (100, 225, 200, 425)


def test_expand_crop_region_shifts_back_inside_and_clamps():
    assert imageops.expand_crop_region((0, 10, 50, 60), 512, 256, 1024, 768) == (0, 10, 100, 60)
    assert imageops.expand_crop_region((990, 10, 1024, 60), 512, 256, 1024, 768) == (924, 10, 1024, 60)
    # too big to fit: clamped, so the ratio is not exact at the border
    assert imageops.expand_crop_region((0, 0, 100, 90), 512, 256, 150, 90) == (0, 0, 150, 90)


def test_double_mask_doubles_and_clips():
    mask = Image.fromarray(np.array([[0, 1, 100, 127, 128, 200, 255]], np.uint8))
    assert list(imageops.double_mask(mask).get_flattened_data()) == [0, 2, 200, 254, 255, 255, 255]


def test_latent_mask_is_an_eighth_rounded_at_half():
    mask = rect_mask(64, 64, (0, 0, 32, 64))
    lat = imageops.latent_mask(mask, 64, 64)
    assert lat.shape == (8, 8)
    assert (lat[:, :4] == 1).all() and (lat[:, 4:] == 0).all()
    soft = Image.new("L", (64, 64), 100)  # 100/255 < 0.5 rounds away; kept unrounded for soft inpainting
    assert (imageops.latent_mask(soft, 64, 64) == 0).all()
    assert np.allclose(imageops.latent_mask(soft, 64, 64, round=False), 100 / 255)


# -- fill and overlay -------------------------------------------------------------------------------------------------

def test_fill_without_a_hole_returns_the_picture():
    im = noise_image(64, 48)
    assert np.array_equal(pixels(imageops.fill(im, Image.new("L", im.size, 0))), pixels(im))


def test_fill_paints_the_hole_with_the_surrounding_colour():
    im = Image.new("RGB", (64, 64), (200, 30, 60))
    im.paste((0, 255, 0), (20, 20, 40, 40))  # what was in the hole must disappear
    out = pixels(imageops.fill(im, rect_mask(64, 64, (20, 20, 40, 40))))
    # premultiplied blurs round-trip through 8 bits: a few levels of error, none of the green left
    assert np.abs(out - np.array([200, 30, 60])).max() <= 6


def test_fill_keeps_pixels_outside_the_hole():
    im = noise_image(64, 64)
    out = pixels(imageops.fill(im, rect_mask(64, 64, (20, 20, 40, 40))))
    keep = np.ones((64, 64), bool)
    keep[20:40, 20:40] = False
    assert np.array_equal(out[keep], pixels(im)[keep])


def test_overlay_restores_the_original_where_the_mask_is_zero_and_keeps_the_new_where_it_is_full():
    original, generated = noise_image(64, 64, 1), noise_image(64, 64, 2)
    mask = imageops.blur_mask(rect_mask(64, 64, (16, 16, 48, 48)), 4, 4)
    out = pixels(imageops.apply_overlay(generated, None, imageops.make_overlay(original, mask)))
    m = np.asarray(mask)
    assert np.array_equal(out[m == 0], pixels(original)[m == 0])
    assert np.array_equal(out[m == 255], pixels(generated)[m == 255])
    mid = (m > 0) & (m < 255)
    assert mid.any()
    a = m[mid][:, None] / 255  # feathered edge: a blend of the two, by the mask
    assert np.abs(out[mid] - (pixels(generated)[mid] * a + pixels(original)[mid] * (1 - a))).max() <= 2


def test_uncrop_pastes_the_crop_back_at_the_original_resolution():
    original, crop = noise_image(300, 200, 1), noise_image(128, 128, 2)
    overlay = imageops.make_overlay(original, rect_mask(300, 200, (100, 50, 164, 114)))
    out = imageops.apply_overlay(crop, (100, 50, 64, 64), overlay)
    assert out.size == (300, 200)
    assert np.array_equal(pixels(out)[50:114, 100:164], pixels(imageops.resize_image(1, crop, 64, 64)))
    outside = np.ones((200, 300), bool)
    outside[50:114, 100:164] = False
    assert np.array_equal(pixels(out)[outside], pixels(original)[outside])


def whole_mask_blur(mask, blur_x, blur_y):
    """A1111's blur as it runs there: cv2 over the whole mask."""
    import cv2
    array = np.array(mask.convert("L"))
    if blur_x > 0:
        array = cv2.GaussianBlur(array, (imageops.blur_kernel_size(blur_x), 1), blur_x)
    if blur_y > 0:
        array = cv2.GaussianBlur(array, (1, imageops.blur_kernel_size(blur_y)), blur_y)
    return array


@pytest.mark.parametrize("box, blur", [((300, 200, 340, 260), (4, 4)), ((0, 0, 30, 12), (8, 3)),
                                       ((600, 380, 640, 400), (0, 6)), ((100, 100, 101, 101), (2, 0)),
                                       ((0, 0, 640, 400), (4, 4)), ((630, 10, 640, 390), (16, 16))])
def test_the_mask_blur_of_the_box_alone_is_the_whole_masks_blur_bit_for_bit(box, blur):
    mask = rect_mask(640, 400, box)
    mask.putpixel((box[0], box[3] - 1), 128)
    assert np.array_equal(np.asarray(imageops.blur_mask(mask, *blur)), whole_mask_blur(mask, *blur))
    blank = Image.new("L", (64, 32), 0)
    assert np.array_equal(np.asarray(imageops.blur_mask(blank, 4, 4)), np.zeros((32, 64), np.uint8))


@pytest.mark.parametrize("box", [(900, 700, 1000, 760), (0, 0, 64, 40), (980, 0, 1024, 768)])
def test_only_masked_paste_back_of_the_crop_alone_is_a1111s_whole_picture_composite(box):
    """CroppedOverlay against A1111's way: uncrop onto a transparent canvas of the whole size, composite the whole
    picture's overlay, convert. Equal everywhere, to the bit."""
    original, generated = noise_image(1024, 768, 1), noise_image(512, 512, 2)
    mask = imageops.blur_mask(rect_mask(1024, 768, box), 4, 4)
    x1, y1, x2, y2 = crop = imageops.expand_crop_region(imageops.crop_region_for_mask(mask, 32), 512, 512, 1024, 768)
    paste_to = (x1, y1, x2 - x1, y2 - y1)
    a1111 = imageops.uncrop(generated, original.size, paste_to)
    a1111.alpha_composite(imageops.make_overlay(original, mask))
    cropped = imageops.CroppedOverlay(original, crop, mask.crop(crop))
    assert cropped.overlay.size == (x2 - x1, y2 - y1)
    assert np.array_equal(pixels(imageops.apply_overlay(generated, paste_to, cropped)), pixels(a1111.convert("RGB")))


def test_flatten_uses_the_background_colour():
    rgba = Image.new("RGBA", (2, 1), (10, 20, 30, 0))
    rgba.putpixel((1, 0), (10, 20, 30, 255))
    assert list(imageops.flatten(rgba, "#ff0000").get_flattened_data()) == [(255, 0, 0), (10, 20, 30)]


def test_color_correction_of_a_picture_by_itself_changes_nothing():
    im = noise_image(64, 64)
    out = imageops.apply_color_correction(imageops.color_correction_target(im), im)
    diff = np.abs(pixels(out) - pixels(im))
    assert diff.mean() < 1 and np.percentile(diff, 99) <= 6  # 8-bit LAB round trips


def test_color_correction_pulls_colours_toward_the_init_picture_and_keeps_luminosity():
    target = Image.new("RGB", (32, 32), (200, 40, 40))
    generated = Image.new("RGB", (32, 32), (40, 40, 200))
    out = pixels(imageops.apply_color_correction(imageops.color_correction_target(target), generated))[0, 0]
    assert out[0] > out[2]  # now red-ish

    def lum(c):
        return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    assert abs(lum(out) - lum((40, 40, 200))) <= 1.5


def test_grid_is_round_sqrt_rows():
    images = [Image.new("RGB", (10, 8), (i * 40, 0, 0)) for i in range(5)]
    grid = imageops.image_grid(images)
    assert grid.size == (30, 16)  # round(sqrt(5)) = 2 rows, 3 columns
    assert grid.getpixel((25, 12)) == (0, 0, 0) and grid.getpixel((5, 12)) == (120, 0, 0)


def test_load_image_names_a_corrupt_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(imageops.ImageInputError, match="mask"):
        imageops.load_image(str(bad), "mask")
    with pytest.raises(imageops.ImageInputError, match="init image"):
        imageops.load_image(b"hello, I am text", "init image")


def test_load_image_refuses_a_huge_picture(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (9000, 8000)).save(path)
    with pytest.raises(imageops.ImageInputError, match="too large"):
        imageops.load_image(str(path), "init image")


def test_load_image_honours_exif_orientation(tmp_path):
    im = noise_image(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    im.save(path, exif=exif)
    assert imageops.load_image(str(path)).size == (20, 40)

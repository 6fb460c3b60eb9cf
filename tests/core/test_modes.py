"""Each mode's raw inputs -> Job (reference section 1), and each mode end to end on the built-in model."""
import io

import numpy as np
import pytest
from PIL import Image

import modes
from modes.inpaint import mask_from_layers
from modes.inpaint_sketch import sketch_mask
from pipelines import ImageInputError, imageops
from tests.conftest import done_of
from tests.helpers import noise_image, pixels, rect_mask

FAST = dict(steps=6, width=128, height=128, seed=3, denoising_strength=0.9)


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def stroke_layer(size, box, alpha=255, colour=(255, 255, 255)):
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste(colour + (alpha,), box)
    return layer


def assert_changed_only_under(out, source, box, blur=4):
    """Pixels outside the (doubled) blurred mask are the input's, bit for bit; those under the stroke changed."""
    mask = imageops.double_mask(imageops.blur_mask(rect_mask(*source.size, box), blur, blur))
    far = np.asarray(mask) == 0
    assert np.array_equal(pixels(out)[far], pixels(source)[far])
    x1, y1, x2, y2 = box
    assert (pixels(out)[y1:y2, x1:x2] != pixels(source)[y1:y2, x1:x2]).any(axis=-1).mean() > 0.9


def test_img2img_flattens_transparency_on_the_background_colour(services):
    rgba = noise_image(128, 128, mode="RGBA")
    rgba.putalpha(Image.fromarray(np.where(np.arange(128) < 64, 0, 255).astype(np.uint8)[None].repeat(128, 0)))
    done = done_of(services, modes.img2img.make_job(png_bytes(rgba), **dict(FAST, denoising_strength=0)))
    out = pixels(done.images[0])
    assert (out[:, :64] == 255).all()
    assert np.array_equal(out[:, 64:], pixels(rgba)[:, 64:])
    assert done.images[0].size == (128, 128)


def test_img2img_with_a_strength_changes_the_picture(services):
    source = noise_image(128, 128)
    done = done_of(services, modes.img2img.make_job(source, **FAST))
    assert (pixels(done.images[0]) != pixels(source)).any()


def test_sketch_strokes_reach_the_init_picture(services):
    composite = noise_image(128, 128)
    composite.paste((255, 0, 0), (20, 20, 60, 60))
    job = modes.sketch.make_job(composite, **FAST)
    assert job.mask is None
    assert pixels(job.init_images[0])[40, 40].tolist() == [255, 0, 0]
    done = done_of(services, job)
    assert done.images[0].size == (128, 128) and "Mask" not in done.infotexts[0]


def test_inpaint_mask_is_the_painted_layers():
    size = (64, 64)
    mask = mask_from_layers([stroke_layer(size, (0, 0, 10, 10)), stroke_layer(size, (30, 30, 40, 40), alpha=100)],
                            size)
    binary = np.asarray(imageops.create_binary_mask(mask))
    assert (binary[0:10, 0:10] == 255).all()
    assert (binary[30:40, 30:40] == 255).all()  # the half-transparent brush still paints mask
    assert binary.sum() == 200 * 255


def test_inpaint_changes_only_the_painted_area(services):
    source = noise_image(128, 128)
    box = (40, 40, 88, 88)
    job = modes.inpaint.make_job(source, [stroke_layer(source.size, box)], **FAST)
    assert_changed_only_under(done_of(services, job).images[0], source, box)


def test_inpaint_with_nothing_painted_keeps_the_picture(services):
    source = noise_image(128, 128)
    done = done_of(services, modes.inpaint.make_job(source, [], **FAST))
    assert np.array_equal(pixels(done.images[0]), pixels(source))


def test_inpaint_sketch_mask_is_the_changed_pixels_dimmed_by_transparency():
    original = noise_image(32, 32)
    sketched = original.copy()
    sketched.paste((0, 255, 0), (8, 8, 16, 16))
    mask = np.asarray(sketch_mask(original, sketched, 0))
    expected = np.zeros((32, 32), np.uint8)
    expected[8:16, 8:16] = 255
    assert np.array_equal(mask, expected)
    dimmed = np.asarray(sketch_mask(original, sketched, 60))
    assert set(np.unique(dimmed)) == {0, int(255 * 0.4)}


def test_inpaint_sketch_blends_the_blurred_strokes_and_repaints_under_them(services):
    source = noise_image(128, 128)
    sketched = source.copy()
    box = (40, 40, 88, 88)
    sketched.paste((0, 0, 255), box)
    job = modes.inpaint_sketch.make_job(source, sketched, mask_alpha=0, mask_blur=4, **FAST)
    init = pixels(job.init_images[0])
    assert init[64, 64].tolist() == [0, 0, 255]  # the middle of the stroke is the stroke
    assert np.array_equal(init[:20], pixels(source)[:20])  # far from it, the original
    # outside the mask the result is that init picture (the original with the soft edge of the strokes), bit for bit
    assert_changed_only_under(done_of(services, job).images[0], job.init_images[0], box)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_inpaint_upload_takes_a_mask_in_any_mode(services, mode):
    source = noise_image(128, 128)
    box = (32, 32, 96, 96)
    job = modes.inpaint_upload.make_job(png_bytes(source), png_bytes(rect_mask(128, 128, box, mode)), **FAST)
    assert_changed_only_under(done_of(services, job).images[0], source, box)


def test_inpaint_upload_uses_the_alpha_of_a_transparent_mask(services):
    source = noise_image(128, 128)
    box = (32, 32, 96, 96)
    mask = stroke_layer(source.size, box, colour=(0, 0, 0))  # black but opaque: alpha decides
    done = done_of(services, modes.inpaint_upload.make_job(source, mask, **FAST))
    assert_changed_only_under(done.images[0], source, box)


def test_inpaint_upload_scales_a_mask_of_another_size(services):
    source = noise_image(128, 128)
    job = modes.inpaint_upload.make_job(source, rect_mask(256, 256, (64, 64, 192, 192)), **FAST)
    assert_changed_only_under(done_of(services, job).images[0], source, (32, 32, 96, 96))


def test_inpaint_upload_names_a_mask_that_is_not_an_image():
    with pytest.raises(ImageInputError, match="^mask is not a readable image"):
        modes.inpaint_upload.make_job(noise_image(64, 64), b"this is a text file\n")
    with pytest.raises(ImageInputError, match="^init image"):
        modes.inpaint_upload.make_job(b"\x89PNG\r\n\x1a\n broken", rect_mask(64, 64, (0, 0, 8, 8)))


def test_exif_orientation_is_honoured(services, tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    noise_image(96, 64).save(path, exif=exif)
    job = modes.img2img.make_job(str(path), **dict(FAST, scale_by=1.0, denoising_strength=0))
    assert done_of(services, job).images[0].size == (64, 96)

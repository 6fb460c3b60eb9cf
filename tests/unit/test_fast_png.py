"""fast_png: PNGs written in parallel strips decode to the same pixels and infotext, whatever the strip layout."""
import io

import numpy as np
import pytest
from PIL import Image

from pipelines import fast_png
from pipelines.saving import SaveFormat, read_infotext, write_image


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("size, strip_bytes", [((1, 1), 4 << 20), ((7, 5), 22), ((33, 64), 100), ((300, 200), 999)])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_strips_of_any_size_decode_to_the_same_pixels(monkeypatch, size, strip_bytes, level):
    monkeypatch.setattr(fast_png, "STRIP_BYTES", strip_bytes)  # from one strip to one row a strip
    picture = Image.fromarray(np.random.RandomState(size[0]).randint(0, 256, (size[1], size[0], 3), np.uint8))
    out = io.BytesIO()
    fast_png.write_rgb_png(picture, out, "Steps: 20, Sampler: Euler", level)
    back = decoded(out.getvalue())
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), np.asarray(picture))
    assert read_infotext(back) == "Steps: 20, Sampler: Euler"


def test_the_infotext_is_kept_beyond_latin_1_and_left_out_when_off(tmp_path):
    picture = Image.fromarray((np.indices((300, 200)).sum(0) % 251).astype(np.uint8)).convert("RGB")
    write_image(picture, tmp_path / "a.png", "ein Bild – 猫", SaveFormat())
    assert read_infotext(decoded((tmp_path / "a.png").read_bytes())) == "ein Bild – 猫"
    write_image(picture, tmp_path / "b.png", "hidden", SaveFormat(pnginfo=False))
    back = decoded((tmp_path / "b.png").read_bytes())
    assert read_infotext(back) == "" and np.array_equal(np.asarray(back), np.asarray(picture))


def test_the_checksums_of_two_pieces_combine_as_zlib_does():
    import zlib
    first, second = b"the first piece " * 1000, bytes(range(256)) * 300
    assert fast_png.adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second)) == \
        zlib.adler32(first + second)

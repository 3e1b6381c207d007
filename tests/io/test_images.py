"""The one image decoder (every colour mode to RGB, bad files named) and PNG in and out."""

import errno

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from localglobal.errors import BadInputError, LocalglobalError
from localglobal.io import images
from localglobal.io.images import (
    decode_rgb,
    encode_png,
    load_input_frame,
    read_png,
    to_input_frame,
    write_png,
)


def random_rgb(height=20, width=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "LA", "I;16", "1"])
def test_any_colour_mode_decodes_as_rgb(tmp_path, mode):
    rgb = Image.fromarray(random_rgb())
    image = rgb.convert("L").convert(mode) if mode == "I;16" else rgb.convert(mode)
    jpeg = mode in ("L", "CMYK")
    path = tmp_path / f"picture.{'JPEG' if jpeg else 'png'}"
    image.save(path, format="JPEG" if jpeg else "PNG")
    decoded = decode_rgb(path)
    assert decoded.shape == (20, 30, 3) and decoded.dtype == np.uint8
    assert decoded.flags.writeable
    if mode in ("RGBA", "P", "LA", "1"):  # lossless: exactly what convert("RGB") gives
        assert np.array_equal(decoded, np.asarray(Image.open(path).convert("RGB")))


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 257, 32896, 65535]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(levels).save(path)
    assert Image.open(path).mode == "I;16"
    assert decode_rgb(path)[0, :, 0].tolist() == [0, 1, 128, 255]


def test_a_png_named_jpeg_decodes_and_a_small_one_is_refused(tmp_path):
    path = tmp_path / "n01440764_1.JPEG"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(path, format="PNG")
    assert decode_rgb(path)[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(BadInputError, match=r"40×30 pixels is too small.*min_side = 31"):
        decode_rgb(path, min_side=31)


def test_bad_files_are_bad_input_naming_the_file(tmp_path):
    broken = tmp_path / "broken.JPEG"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    truncated = tmp_path / "truncated.JPEG"
    Image.fromarray(random_rgb(64, 64)).save(truncated, quality=95)
    truncated.write_bytes(truncated.read_bytes()[:300])
    for path, match in ((broken, "not a decodable image"), (truncated, "not a decodable image"),
                        (tmp_path / "gone.JPEG", "no such image file"),
                        (tmp_path, "no such image file")):
        with pytest.raises(BadInputError, match=match) as raised:
            decode_rgb(path)
        assert str(path) in str(raised.value)
        assert isinstance(raised.value, LocalglobalError | ValueError)


def test_a_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 10,000 pixels is over twice that
    with pytest.raises(BadInputError, match="decompression bomb"):
        decode_rgb(path)


@pytest.mark.parametrize("mode", ["RGB", "L"])  # OpenCV's decoder, Pillow's
def test_a_failing_machine_is_not_blamed_on_the_image(tmp_path, monkeypatch, mode):
    path = tmp_path / "fine.png"
    Image.new(mode, (10, 10)).save(path)

    def failing(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(images.Image, "open", failing)
    monkeypatch.setattr(images.Path, "open", failing)
    with pytest.raises(OSError) as raised:
        decode_rgb(path)
    assert raised.value.errno == errno.EIO and not isinstance(raised.value, BadInputError)


def with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """``png`` with a chunk inserted after its header."""
    import struct
    import zlib

    chunk = kind + data
    return png[:33] + struct.pack(">I", len(data)) + chunk + \
        struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def test_plain_rgb_pngs_decode_to_pillow_s_pixels_by_either_decoder(tmp_path):
    plain = tmp_path / "plain.png"
    Image.fromarray(random_rgb(37, 53)).save(plain)
    gamma = tmp_path / "gamma.png"
    gamma.write_bytes(with_chunk(plain.read_bytes(), b"gAMA", (45455).to_bytes(4, "big")))
    noted = tmp_path / "noted.png"
    noted.write_bytes(with_chunk(plain.read_bytes(), b"tEXt", b"Comment\x00hello"))
    for path, fast in ((plain, True), (noted, True), (gamma, False)):
        assert (images._plain_rgb_png(path) is not None) == fast
        decoded = decode_rgb(path)
        assert decoded.flags.writeable
        assert np.array_equal(decoded, np.asarray(Image.open(path).convert("RGB")))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(plain.read_bytes()[:-40])
    with pytest.raises(BadInputError, match=r"truncated\.png: not a decodable image"):
        decode_rgb(truncated)


def test_the_input_frame_is_torchvision_s(tmp_path):
    from torchvision import transforms

    source = random_rgb(240, 300, seed=3)
    path = tmp_path / "image.png"
    Image.fromarray(source).save(path)
    frame = load_input_frame(path, 256, 224, "bilinear")
    expected = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    assert np.array_equal(frame, np.asarray(expected(Image.fromarray(source))))
    assert load_input_frame(path, 128, 96, "nearest").shape == (96, 96, 3)
    with pytest.raises(BadInputError, match="too small"):
        load_input_frame(path, min_side=241)


def test_pngs_are_lossless_and_deterministic(tmp_path):
    image = random_rgb(32, 48, seed=5)
    assert encode_png(image) == encode_png(image.copy())
    path = write_png(tmp_path / "sub" / "image.png", image)
    assert np.array_equal(read_png(path), image)
    assert np.array_equal(decode_rgb(path), image)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(image.astype(np.float32))


def test_to_input_frame_is_torchvision_resize_and_center_crop():
    rng = np.random.default_rng(0)
    for width, height in [(180, 120), (90, 140), (300, 300)]:
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        expected = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(
            Image.fromarray(pixels))
        assert np.array_equal(to_input_frame(pixels), np.asarray(expected))

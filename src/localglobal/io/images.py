"""Image codecs: the one decoder of source images, and lossless PNG in and out.

:func:`decode_rgb` is how every stage reads a source image: the format is taken from
the content (a PNG named ``.JPEG`` decodes), every colour mode becomes 8-bit RGB as
torchvision's loader makes it, and Pillow's decompression-bomb limit applies. A file
that is missing, undecodable or too small raises
:class:`~localglobal.errors.BadInputError` naming it, so that a stage reports the item
and goes on; a failure of the machine (an I/O error, no permission) is re-raised as
it is, so that the stage stops instead of blaming the image. :func:`load_input_frame`
takes the decoded image into the model-input frame with :func:`to_input_frame`,
torchvision's Resize + CenterCrop on the pixels (the geometry of that frame, boxes
included, is :mod:`localglobal.data.geometry`, which sits above this layer).

PNG writing is deterministic byte for byte, so reruns give identical files.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from localglobal.errors import BadInputError, is_machine_error
from localglobal.io.atomic import write_bytes_atomic

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
"""Pillow's 16-bit greyscale modes; scaled to 8 bits rather than clipped."""

_DECODE_ERRORS = (OSError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError)


def _to_rgb(opened: Image.Image) -> Image.Image:
    """``opened`` as 8-bit RGB: 16-bit grey scaled by 1/257, other modes converted."""
    if opened.mode in SIXTEEN_BIT_MODES:
        levels = np.asarray(opened, dtype=np.uint16).astype(np.float64) / 257.0
        return Image.fromarray(np.rint(levels).astype(np.uint8), "L").convert("RGB")
    # Greyscale, palette, CMYK and alpha images: what torchvision's loader does.
    return opened.convert("RGB")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PIXEL_NEUTRAL_CHUNKS = frozenset({b"bKGD", b"pHYs", b"tIME", b"tEXt", b"zTXt", b"iTXt"})
"""PNG chunks that change no pixel of an RGB image as decoded here (no transparency,
gamma, colour profile, orientation or animation)."""


def _plain_rgb_png(path: Path) -> np.ndarray | None:
    """The pixels of a plain 8-bit RGB PNG, decoded by OpenCV; None for any other file.

    OpenCV's PNG decoder takes about half of Pillow's time, and on such a file — 8-bit
    RGB, not interlaced, complete (ending in IEND), within Pillow's pixel limit, with no
    chunk before the image data that could change a pixel — it gives Pillow's pixels
    (PNG is lossless). Anything else, a file OpenCV cannot decode included, is left to
    Pillow, which decodes it or says why not.
    """
    import cv2

    try:
        with path.open("rb") as file:
            if file.read(8) != _PNG_SIGNATURE:
                return None
            data = _PNG_SIGNATURE + file.read()
    except OSError as error:
        if is_machine_error(error):
            raise
        return None  # Pillow's attempt says what is wrong with the file
    if len(data) < 57 or data[12:16] != b"IHDR" or not data.endswith(_PNG_END):
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    limit = Image.MAX_IMAGE_PIXELS
    if (depth, colour, interlace) != (8, 2, 0) or (limit and width * height > limit):
        return None
    position = 33  # the chunk after IHDR
    while position + 8 <= len(data):
        kind = data[position + 4:position + 8]
        if kind == b"IDAT":
            break
        if kind not in _PIXEL_NEUTRAL_CHUNKS:
            return None
        position += 12 + int.from_bytes(data[position:position + 4], "big")
    else:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8),
                         cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.shape != (height, width, 3) or image.dtype != np.uint8:
        return None
    return image


def decode_rgb(path: str | os.PathLike[str], *, min_side: int = 1) -> np.ndarray:
    """Decode an image file to an H×W×3 uint8 RGB array.

    Parameters
    ----------
    path : path-like
        The image file; its format is read from the content, not the name.
    min_side : int
        Shorter side in pixels below which the image is refused.

    Returns
    -------
    numpy.ndarray
        H×W×3 uint8, RGB, a writable array. EXIF orientation is not applied: the
        annotations refer to the stored pixels.

    Raises
    ------
    BadInputError
        The file is missing, not a decodable image (also: truncated, or above Pillow's
        decompression-bomb limit), not convertible to RGB, or too small; the message
        names the file.
    OSError
        The machine failed the read (I/O error, no permission): not the image's fault.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such image file")
    plain = _plain_rgb_png(path)
    if plain is not None:
        image = plain
        if min(image.shape[:2]) < min_side:
            raise BadInputError(f"{path}: {image.shape[1]}×{image.shape[0]} pixels is too "
                                f"small (shorter side below min_side = {min_side})")
        return image
    mode = "unknown"
    try:
        with Image.open(path) as opened:
            opened.load()
            mode = opened.mode
            image = _to_rgb(opened)
    except _DECODE_ERRORS as error:
        if is_machine_error(error):
            raise
        raise BadInputError(f"{path}: not a decodable image ({error})") from None
    except ValueError as error:
        if mode == "unknown":  # the decoder itself gave up
            raise BadInputError(f"{path}: not a decodable image ({error})") from None
        raise BadInputError(f"{path}: cannot convert mode {mode} to RGB ({error})") from None
    width, height = image.size
    if min(width, height) < min_side:
        raise BadInputError(f"{path}: {width}×{height} pixels is too small (shorter side "
                            f"below min_side = {min_side})")
    return np.array(image, dtype=np.uint8)


def to_input_frame(image: Image.Image | np.ndarray, resize: int = 256, crop: int = 224,
                   interpolation: str = "bilinear") -> np.ndarray:
    """Resize the shorter side and centre-crop a square, as torchvision does.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        RGB (a PIL image of another mode is converted), or an H×W×3 uint8 array.
    resize : int
        Target of the shorter side, pixels (aspect kept, the longer side truncated).
    crop : int
        Side of the output square, pixels (zero-padded where the resized image is
        smaller).
    interpolation : str
        ``bilinear`` (torchvision's default), ``bicubic`` or ``nearest``; antialiased.

    Returns
    -------
    numpy.ndarray
        ``crop`` × ``crop`` × 3 uint8 RGB.
    """
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    if pil.mode != "RGB":
        pil = pil.convert("RGB")
    resized = F.resize(pil, resize, interpolation=InterpolationMode(interpolation),
                       antialias=True)
    return np.asarray(F.center_crop(resized, [crop, crop]), dtype=np.uint8)


def load_input_frame(path: str | os.PathLike[str], resize: int = 256, crop: int = 224,
                     interpolation: str = "bilinear", min_side: int = 1) -> np.ndarray:
    """Decode an image file and take it into the model-input frame.

    Parameters
    ----------
    path : path-like
        The image file (see :func:`decode_rgb`).
    resize, crop, interpolation
        The frame (see :func:`to_input_frame`).
    min_side : int
        Shorter side in pixels below which the source image is refused.

    Returns
    -------
    numpy.ndarray
        ``crop`` × ``crop`` × 3 uint8 RGB.

    Raises
    ------
    BadInputError, OSError
        As :func:`decode_rgb`.
    """
    return to_input_frame(decode_rgb(path, min_side=min_side), resize, crop, interpolation)


def encode_png(image_rgb: np.ndarray, compression: int = 1) -> bytes:
    """Encode an H×W×3 (RGB) or H×W uint8 array as PNG bytes, deterministically."""
    import cv2

    image = np.ascontiguousarray(image_rgb)
    if image.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, got {image.dtype}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()


def write_png(path: str | os.PathLike[str], image_rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as a lossless PNG atomically."""
    return write_bytes_atomic(path, encode_png(image_rgb))


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG (or any image OpenCV decodes) as an RGB uint8 array."""
    import cv2

    path = Path(path)
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

"""Image codecs: lossless PNG in and out, deterministic byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from localglobal.io.atomic import write_bytes_atomic


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

"""Reading and writing grayscale images and arrays, with one clear error per bad input.

Images are float32 tensors of shape ``(H, W)`` on the ``[0, 1]`` intensity scale. PNG/JPEG/TIFF
(anything scikit-image reads) is converted to gray and scaled by its integer range; ``.npy``
files are taken as they are (already on the ``[0, 1]`` scale). Every problem (missing file,
unreadable file, wrong dimension, NaN) raises :class:`lipapps.InputError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
import skimage.data
from skimage import io as skio
from skimage.color import rgb2gray, rgba2rgb

from lipapps import InputError, atomic_write
from lipapps.npy import load_npy


#: The natural photographs scikit-image ships in its wheel (``skimage/data``, no download), read as
#: gray: a portrait and a camera man, a cat, a cup, coins, the moon's surface, printed text and
#: three textures (brick, grass, gravel). Neither training (train400) nor the parameter rules
#: (train400 validation images) saw them; they stand for the classic test images a new user tries.
CLASSIC_IMAGES = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
                  "gravel.png", "moon.png", "page.png", "text.png")


def classic_image_files() -> list[Path]:
    """The paths of :data:`CLASSIC_IMAGES` inside the installed scikit-image."""
    folder = Path(skimage.data.__file__).parent
    missing = [name for name in CLASSIC_IMAGES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"this scikit-image installation lacks {', '.join(missing)} in {folder}")
    return [folder / name for name in CLASSIC_IMAGES]


def load_array(path: str | os.PathLike, what: str) -> np.ndarray:
    """A finite, non-empty 2-D array from a ``.npy`` file (no pickles); ``what`` names it in errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    array = load_npy(path, what)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"{what} {path} must be a non-empty 2-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise InputError(f"{what} {path} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError(f"{what} {path} contains NaN or infinite values")
    return array


def read_image(path: str | os.PathLike, colour: str = "convert") -> torch.Tensor:
    """A grayscale image in ``[0, 1]`` as a float32 tensor ``(H, W)``.

    ``colour``: what to do with an RGB(A) image whose channels differ: ``"convert"`` it to gray
    (luminance), or ``"refuse"`` it with :class:`lipapps.InputError` (an RGB file of a gray image,
    equal channels, is read either way).
    """
    if colour not in ("convert", "refuse"):
        raise ValueError(f"colour must be 'convert' or 'refuse', got {colour!r}")
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return torch.from_numpy(load_array(path, "image"))
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        raw = skio.imread(path)
    except Exception as exc:  # the readers raise many types for a corrupt file
        raise InputError(f"cannot read image {path}: {type(exc).__name__}") from None
    image = np.asarray(raw)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = rgba2rgb(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        if colour == "refuse" and not np.allclose(image, image[..., :1]):
            raise InputError(f"image {path} is in colour; give a grayscale image (the denoisers are grayscale)")
        image = rgb2gray(image)
    elif np.issubdtype(image.dtype, np.integer):
        image = image / float(np.iinfo(image.dtype).max)
    if image.ndim != 2 or image.size == 0:
        raise InputError(f"image {path} must be a 2-D grayscale or RGB image, got shape {np.asarray(raw).shape}")
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise InputError(f"image {path} contains NaN or infinite values")
    return torch.from_numpy(image)


def write_image(path: str | os.PathLike, image: torch.Tensor | np.ndarray) -> Path:
    """Write ``image`` (values clipped to ``[0, 1]``) atomically: 8-bit in the suffix's format, or ``.npy``."""
    path = Path(path)
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    array = np.clip(array.astype(np.float32).squeeze(), 0.0, 1.0)
    if path.suffix.lower() == ".npy":
        with atomic_write(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, array)
        return path
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise InputError(f"unknown image format for {path}: use .png, .jpg, .tif or .npy")
    with atomic_write(path) as tmp:
        Image.fromarray(np.round(array * 255).astype(np.uint8)).save(tmp, format=image_format)
    return path


def centre_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``s x s`` crop of an ``(H, W)`` image, ``s = min(size, H, W)`` (the top-left
    corner at ``((H - s) // 2, (W - s) // 2)``)."""
    h, w = image.shape[-2:]
    s = min(size, h, w)
    i, j = (h - s) // 2, (w - s) // 2
    return image[..., i : i + s, j : j + s]

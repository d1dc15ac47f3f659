"""Images as people have them, as the model takes them: N x 28 x 28 uint8, white on black.

`mnist-pipeline predict` reads pictures (PNG, JPEG, or anything else Pillow opens) of any
size, IDX image files (`t10k-images-idx3-ubyte`, gzipped or not) and npz arrays (N x 28 x 28
or N x 784). Files are told apart by their content, not their names.

A picture becomes grayscale (transparent parts take the colour that contrasts with the
strokes), white on black (MNIST's polarity: a light border means dark ink on light paper, so
it is inverted; or as the caller says), then 28 x 28: padded to a square with the
background and resized, area-averaging when shrinking, so a 28 x 28 image saved 3x larger
comes back pixel for pixel. `center=True` frames it as MNIST framed its digits instead:
background to black, contrast stretched, cropped to the digit, scaled to fit 20 x 20 and
placed with its center of mass at the center, which suits photos and drawings whose digit
fills the frame.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from mnist_pipeline.data.datasets import (
    GZIP_MAGIC,
    IMAGE_SHAPE,
    IMAGES_MAGIC,
    decompress,
    parse_idx,
)
from mnist_pipeline.data.preprocessing import as_images
from mnist_pipeline.errors import DataError, MissingInputError, PipelineError

AUTO, WHITE_ON_BLACK, BLACK_ON_WHITE = POLARITIES = ("auto", "white-on-black", "black-on-white")
DIGIT_BOX = 20  # MNIST's digits fit a 20 x 20 box inside the 28 x 28 image
ZIP_MAGIC = b"PK\x03\x04"  # npz files are zip archives
PICTURE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
IDX_UBYTE = IMAGES_MAGIC.to_bytes(4, "big")[:3]  # any IDX file of bytes (images, labels)
SIDE = IMAGE_SHAPE[0]


def read_inputs(
    files: list[str], polarity: str = AUTO, center: bool = False, key: str | None = None
) -> tuple[list[str], np.ndarray]:
    """(one name per image, N x 28 x 28 uint8) for all files, in order: a picture is named
    after its file, the images of an IDX or npz file `file[i]`. The first unreadable file
    raises its error."""
    names, images, unreadable = read_each(files, polarity, center, key)
    if unreadable:
        raise unreadable[0]
    return names, images


def read_each(
    files: list[str], polarity: str = AUTO, center: bool = False, key: str | None = None
) -> tuple[list[str], np.ndarray, list[PipelineError]]:
    """As read_inputs, but an unreadable file is left out and its error returned, one per
    file: one bad file among many need not stop the others."""
    names: list[str] = []
    batches = [np.zeros((0, *IMAGE_SHAPE), dtype=np.uint8)]
    unreadable: list[PipelineError] = []
    for file in files:
        try:
            file_names, images = read_file(file, polarity, center, key)
        except (DataError, MissingInputError) as error:
            unreadable.append(error)
            continue
        names += file_names
        batches.append(images)
    return names, np.concatenate(batches), unreadable


def read_file(
    file: str, polarity: str = AUTO, center: bool = False, key: str | None = None
) -> tuple[list[str], np.ndarray]:
    """The images of one picture, IDX or npz file, and their names."""
    try:
        data = Path(file).read_bytes()
    except FileNotFoundError:
        raise MissingInputError(f"{file}: no such file") from None
    except OSError as error:
        raise DataError(f"{file}: unreadable ({error.strerror})") from None
    if data[:4] == ZIP_MAGIC:
        images = npz_images(data, file, key)
    elif data[:2] == GZIP_MAGIC or data[:3] == IDX_UBYTE:
        images = parse_idx(decompress(data, file), file, IMAGES_MAGIC)
    else:
        return [file], picture(data, file, polarity, center)[np.newaxis]
    # Arrays are taken as MNIST-format (white on black, framed) unless told otherwise.
    if polarity != AUTO or center:
        images = np.stack([arrange(image, polarity, center) for image in images])
    return [f"{file}[{index}]" for index in range(len(images))], images


def npz_images(data: bytes, name: str, key: str | None) -> np.ndarray:
    """The images array of an npz: `key`, or the one array shaped like images."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {entry: archive[entry] for entry in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{name}: unreadable npz ({error})") from None
    if key is not None:
        if key not in arrays:
            raise DataError(f"{name}: no array {key!r} (it holds {sorted(arrays)})")
        chosen = arrays[key]
    else:
        shaped = {entry: array for entry, array in arrays.items() if _image_shaped(array)}
        if len(shaped) != 1:
            listed = (
                ", ".join(f"{entry} {array.shape}" for entry, array in (shaped or arrays).items())
                or "none"
            )
            raise DataError(
                f"{name}: several image arrays ({listed}): name one with --key"
                if shaped
                else f"{name}: no array of N x 28 x 28 or N x 784 images (it holds {listed})"
            )
        (chosen,) = shaped.values()
    try:
        return as_images(chosen)
    except DataError as error:
        raise DataError(f"{name}: {error}") from None


def _image_shaped(array: np.ndarray) -> bool:
    return array.shape[1:] in (IMAGE_SHAPE, (SIDE * SIDE,))


def picture(data: bytes, name: str, polarity: str = AUTO, center: bool = False) -> np.ndarray:
    """28 x 28 uint8, white on black, from the bytes of a picture."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)  # photos: as the camera was held
            gray = _grayscale(image)
    except UnidentifiedImageError:
        if data.startswith(PICTURE_SIGNATURES):
            raise DataError(f"{name}: unreadable image (truncated or corrupt)") from None
        raise DataError(f"{name}: not a picture (PNG, JPEG), IDX or npz file") from None
    except Image.DecompressionBombError as error:
        raise DataError(f"{name}: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt
        raise DataError(f"{name}: unreadable image ({error})") from None
    return arrange(gray, polarity, center)


def _grayscale(image) -> np.ndarray:
    """Luminance 0..255; transparent parts take the colour that contrasts with the strokes
    (drawings exported with a transparent background)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:] / 255
        luma = np.asarray(image.convert("RGBA").convert("L"), dtype=np.float32)[..., None]
        strokes = luma[alpha[..., 0] > 0.5]
        background = 255.0 if strokes.size == 0 or strokes.mean() < 128 else 0.0
        return np.rint(luma * alpha + background * (1 - alpha))[..., 0].astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def arrange(gray: np.ndarray, polarity: str = AUTO, center: bool = False) -> np.ndarray:
    """White on black, then 28 x 28 (see the module's docstring)."""
    if polarity == BLACK_ON_WHITE or polarity == AUTO and light_background(gray):
        gray = 255 - gray
    return center_digit(gray) if center else fit(gray)


def light_background(gray: np.ndarray) -> bool:
    """The border's median is light: dark ink on light paper."""
    return bool(np.median(_border(gray)) > 127)


def fit(gray: np.ndarray) -> np.ndarray:
    """Padded with black to a square, then resized to 28 x 28."""
    height, width = gray.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = gray
    return _resize(square, (SIDE, SIDE))


def center_digit(gray: np.ndarray) -> np.ndarray:
    """MNIST's framing: the digit's bounding box scaled to fit 20 x 20, placed so that its
    center of mass is the image's center."""
    pixels = gray.astype(np.float32) - np.median(_border(gray))
    pixels = np.clip(pixels, 0, None)
    if pixels.max() <= 0:
        return np.zeros(IMAGE_SHAPE, dtype=np.uint8)  # blank
    pixels = np.rint(pixels * (255 / pixels.max())).astype(np.uint8)
    rows, columns = np.nonzero(pixels > 255 * 0.2)  # faint specks do not widen the box
    digit = pixels[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    scale = DIGIT_BOX / max(digit.shape)
    digit = _resize(digit, tuple(max(1, round(n * scale)) for n in digit.shape))
    mass = digit.astype(np.float64)
    center = [
        np.average(np.arange(n), weights=mass.sum(axis=1 - axis))
        for axis, n in enumerate(digit.shape)
    ]
    framed = np.zeros(IMAGE_SHAPE, dtype=np.uint8)
    top, left = (
        int(np.clip(round(SIDE / 2 - c - 0.5), 0, SIDE - n))
        for c, n in zip(center, digit.shape, strict=True)
    )
    framed[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return framed


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def _resize(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-averaging (box filter) when shrinking, exact for whole-number factors; bilinear
    when enlarging."""
    from PIL import Image

    if gray.shape == shape:
        return gray
    shrinking = gray.shape[0] >= shape[0] and gray.shape[1] >= shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    resized = Image.fromarray(gray).resize((shape[1], shape[0]), method)
    return np.asarray(resized, dtype=np.uint8)

"""Images as people have them (pictures, IDX, npz) to N x 28 x 28 uint8, white on black."""

import gzip
import io

import numpy as np
import pytest
from PIL import Image

from mnist_pipeline.data import images
from mnist_pipeline.errors import DataError, MissingInputError
from mnist_pipeline.model.classifier import as_images

from conftest import idx_bytes


def digit(seed: int = 0) -> np.ndarray:
    """A 28 x 28 MNIST-like image: random strokes inside, a blank border."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[5:23, 8:20] = np.random.default_rng(seed).integers(0, 256, (18, 12), dtype=np.uint8)
    return image


def png(array: np.ndarray, scale: int = 1, mode: str = "L") -> bytes:
    picture = Image.fromarray(array)
    if scale != 1:
        picture = picture.resize(
            (array.shape[1] * scale, array.shape[0] * scale), Image.Resampling.NEAREST
        )
    buffer = io.BytesIO()
    picture.convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_picture_of_a_28_by_28_image_comes_back_pixel_for_pixel(scale, mode):
    original = digit()
    assert np.array_equal(images.picture(png(original, scale, mode), "x.png"), original)


@pytest.mark.parametrize("scale", [1, 3])
def test_dark_ink_on_light_paper_is_detected_and_inverted(scale):
    original = digit()
    assert np.array_equal(images.picture(png(255 - original, scale), "x.png"), original)


def test_the_polarity_flag_overrides_detection():
    original = digit()
    inverted = images.picture(png(original), "x.png", polarity=images.BLACK_ON_WHITE)
    assert np.array_equal(inverted, 255 - original)
    kept = images.picture(png(255 - original), "x.png", polarity=images.WHITE_ON_BLACK)
    assert np.array_equal(kept, 255 - original)


def test_a_wide_picture_is_padded_to_a_square_not_stretched():
    wide = np.zeros((28, 56), dtype=np.uint8)
    wide[:, 26:30] = 255  # a vertical bar in the middle
    result = images.fit(wide)
    assert result.shape == (28, 28)
    assert result[:7].max() == 0 and result[21:].max() == 0  # padding above and below
    assert result[7:21, 13:15].min() > 200


def test_centering_frames_a_digit_as_mnist_does():
    """A bar filling a corner of a large picture: cropped, scaled to fit 20 x 20, centered
    by its mass, with a grey background made black."""
    photo = np.full((200, 300), 40, dtype=np.uint8)
    photo[10:110, 20:70] = 230  # 100 x 50: becomes 20 x 10
    result = images.center_digit(photo)
    rows, columns = np.nonzero(result > 128)
    assert (rows.max() - rows.min() + 1, columns.max() - columns.min() + 1) == (20, 10)
    mass_center = [
        np.average(np.nonzero(result)[axis], weights=result[result > 0]) for axis in (0, 1)
    ]
    np.testing.assert_allclose(mass_center, [13.5, 13.5], atol=0.6)
    assert result[0].max() == 0 and result.max() == 255


def test_transparent_background_takes_the_contrasting_colour():
    """Drawings exported with a transparent background: black or white strokes alike become
    white on black."""
    for stroke in (0, 255):
        rgba = np.zeros((28, 28, 4), dtype=np.uint8)
        rgba[5:23, 12:16] = (stroke, stroke, stroke, 255)
        buffer = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
        result = images.picture(buffer.getvalue(), "drawing.png")
        assert result[5:23, 12:16].min() == 255 and result[:5].max() == 0, stroke


def test_files_are_told_apart_by_content(tmp_path):
    batch = np.stack([digit(seed) for seed in range(3)])
    files = {
        "a.png": png(batch[0]),
        "b.idx": idx_bytes(batch),
        "c.gz": gzip.compress(idx_bytes(batch[:2])),
        "d.bin": b"",  # filled below: an npz of N x 784 rows
    }
    buffer = io.BytesIO()
    np.savez(buffer, pixels=batch.reshape(3, 784), labels=np.arange(3))
    files["d.bin"] = buffer.getvalue()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    names, result = images.read_inputs([str(tmp_path / name) for name in files])
    assert [name.rsplit("/", 1)[1] for name in names] == [
        "a.png",
        "b.idx[0]",
        "b.idx[1]",
        "b.idx[2]",
        "c.gz[0]",
        "c.gz[1]",
        "d.bin[0]",
        "d.bin[1]",
        "d.bin[2]",
    ]
    assert np.array_equal(result, np.concatenate([batch[:1], batch, batch[:2], batch]))


def write(tmp_path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return str(tmp_path / name)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("text.png", b"not an image", "text.png: not a picture (PNG, JPEG), IDX or npz file"),
        ("cut.png", png(digit())[:60], "cut.png: unreadable image ("),
        ("labels.idx", idx_bytes(np.arange(5, dtype=np.uint8)), "wrong IDX magic number 2049"),
        (
            "two.npz",
            npz(x_train=np.zeros((2, 28, 28), np.uint8), x_test=np.zeros((1, 28, 28), np.uint8)),
            "two.npz: several image arrays (x_train (2, 28, 28), x_test (1, 28, 28)): name one",
        ),
        (
            "wrong.npz",
            npz(x=np.zeros((3, 10), np.uint8)),
            "wrong.npz: no array of N x 28 x 28 or N x 784 images (it holds x (3, 10))",
        ),
        (
            "scaled.npz",
            npz(x=np.zeros((3, 784), np.float32)),
            "scaled.npz: images of dtype float32: expected raw pixels, integers 0..255",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_file(tmp_path, name, data, message):
    with pytest.raises(DataError) as error:
        images.read_inputs([write(tmp_path, name, data)])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_file_and_a_missing_npz_key(tmp_path):
    with pytest.raises(MissingInputError, match="nothing.png: no such file"):
        images.read_inputs([str(tmp_path / "nothing.png")])
    path = write(tmp_path, "one.npz", npz(x=np.zeros((1, 28, 28), np.uint8)))
    with pytest.raises(DataError, match=r"no array 'images' \(it holds \['x'\]\)"):
        images.read_inputs([path], key="images")


def test_read_each_keeps_the_readable_files_and_names_each_unreadable_one(tmp_path):
    batch = np.stack([digit(seed) for seed in range(3)])
    files = [
        write(tmp_path, "a.png", png(batch[0])),
        write(tmp_path, "cut.png", png(digit())[:60]),
        write(tmp_path, "b.idx", idx_bytes(batch[1:])),
        str(tmp_path / "nothing.png"),
    ]
    names, result, unreadable = images.read_each(files)
    assert [name.rsplit("/", 1)[1] for name in names] == ["a.png", "b.idx[0]", "b.idx[1]"]
    assert np.array_equal(result, batch)
    assert [type(error) for error in unreadable] == [DataError, MissingInputError]
    assert "cut.png: unreadable image (" in str(unreadable[0])
    assert "nothing.png: no such file" in str(unreadable[1])
    with pytest.raises(DataError, match="cut.png: unreadable image"):
        images.read_inputs(files)  # all or nothing: the first bad file's error


def test_as_images_takes_rows_and_rejects_other_shapes():
    rows = np.arange(2 * 784).reshape(2, 784) % 256
    assert as_images(rows).shape == (2, 28, 28) and as_images(rows).dtype == np.uint8
    with pytest.raises(DataError, match=r"images of shape \(2, 27, 28\): expected N x 28 x 28"):
        as_images(np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(DataError, match="dtype int64: expected raw pixels"):
        as_images(np.full((1, 784), 256))

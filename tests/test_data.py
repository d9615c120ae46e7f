import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_course.data import (
    digit_pil_images,
    digits_dataset,
    digits_tensors,
    pil_to_tensor,
    tensor_to_pil,
    with_tensor_transform,
)


def test_tensors_have_the_requested_size_and_range():
    for size in (16, 32):
        data = digits_tensors(size=size)
        assert data.images.shape == (1797, 1, size, size)
        assert data.images.dtype == torch.float32
        assert data.images.min() == -1.0 and data.images.max() == 1.0
        assert data.labels.shape == (1797,)
        assert set(data.labels.tolist()) == set(range(10))


def test_splits_are_disjoint_cover_everything_and_are_stable():
    train = digits_tensors(split="train")
    test = digits_tensors(split="test")
    everything = digits_tensors(split="all")
    assert len(train.images) + len(test.images) == len(everything.images)
    assert len(test.images) == 359
    all_rows = {tuple(x.flatten().tolist()) for x in everything.images}
    test_rows = {tuple(x.flatten().tolist()) for x in test.images}
    train_rows = {tuple(x.flatten().tolist()) for x in train.images}
    assert len(all_rows) == 1797  # every scan is distinct, so rows identify digits
    assert test_rows.isdisjoint(train_rows)
    assert test_rows | train_rows == all_rows
    assert torch.equal(digits_tensors(split="test").images, test.images)


def test_digits_are_real_scans_not_noise():
    # The real digits are dark backgrounds with bright strokes: most pixels are near -1.
    images = digits_tensors().images
    assert (images < -0.8).float().mean() > 0.4
    # and the mean image of each class differs clearly from the others
    labels = digits_tensors().labels
    means = torch.stack([images[labels == c].mean(0) for c in range(10)])
    assert torch.cdist(means.flatten(1), means.flatten(1)).fill_diagonal_(99).min() > 1.0


def test_dataset_has_an_image_column_like_a_users_own_data():
    ds = digits_dataset(size=16, split="test")
    assert ds.column_names == ["image", "label"]
    assert len(ds) == 359
    first = ds[0]["image"]
    assert isinstance(first, Image.Image) and first.size == (16, 16) and first.mode == "L"
    assert ds.features["label"].num_classes == 10


def test_transform_serves_batches_in_minus_one_to_one():
    ds = with_tensor_transform(digits_dataset(size=16))
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    batch = next(iter(loader))["pixel_values"]
    assert batch.shape == (8, 1, 16, 16)
    assert batch.min() >= -1 and batch.max() <= 1
    expected = digits_tensors(size=16).images[:8]
    assert torch.allclose(batch, expected)


def test_tensor_and_pil_round_trip_in_grey_and_rgb():
    images, _ = digit_pil_images(size=16)
    grey = pil_to_tensor(images[0])
    assert grey.shape == (1, 16, 16)
    assert np.array_equal(np.asarray(tensor_to_pil(grey[None])[0]), np.asarray(images[0]))
    rgb = pil_to_tensor(images[0], channels=3)
    assert rgb.shape == (3, 16, 16)
    back = tensor_to_pil(rgb[None])[0]
    assert back.mode == "RGB" and back.size == (16, 16)


@pytest.mark.parametrize("bad", [4, 100, 16.0, "16"])
def test_bad_size_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="size must be an integer from 8 to 64"):
        digits_tensors(size=bad)


def test_bad_split_is_a_clear_error():
    with pytest.raises(ValueError, match="split must be"):
        digits_dataset(split="validation")

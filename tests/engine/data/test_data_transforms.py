"""Transforms: torchvision's conventions, on one sample and on a batch."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from engine.data import transforms as T
from engine.data.transforms import functional as F

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (7, 9), dtype=np.uint8)
RGB = RNG.integers(0, 256, (7, 9, 3), dtype=np.uint8)
BATCH = RNG.integers(0, 256, (16, 7, 9), dtype=np.uint8)


def test_to_tensor_and_normalize_match_torch() -> None:
    torch = torch_or_skip()
    for img in (GREY, RGB):
        chw = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
        ref = torch.from_numpy(np.ascontiguousarray(chw)).float().div(255)
        ours = T.ToTensor()(img)
        assert ours.shape == tuple(ref.shape) and ours.dtype == engine.float32
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
        c = chw.shape[0]
        mean, std = [0.1, 0.5, 0.9][:c], [0.2, 0.3, 0.25][:c]
        ref_n = ref.clone().sub_(torch.tensor(mean)[:, None, None]).div_(
            torch.tensor(std)[:, None, None])
        # Normalize on its own is torch's arithmetic exactly; the fused ToTensor+Normalize pair
        # folds it into one scale and one offset (half the passes), so it agrees to ~1e-7.
        np.testing.assert_array_equal(T.Normalize(mean, std)(ours).numpy(), ref_n.numpy())
        fused = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
        np.testing.assert_allclose(fused(img).numpy(), ref_n.numpy(), rtol=1e-6, atol=1e-6)
        batch = np.stack([img, img[::-1]])
        np.testing.assert_allclose(fused.apply_batch(batch).numpy()[0], ref_n.numpy(),
                                   rtol=1e-6, atol=1e-6)


def test_to_tensor_big_batch_uses_same_numbers_as_single() -> None:
    big = RNG.integers(0, 256, (70, 28, 28), dtype=np.uint8)  # above the lookup-table size
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    out = tf.apply_batch(big).numpy()
    assert out.shape == (70, 1, 28, 28)
    for i in (0, 33, 69):
        np.testing.assert_array_equal(out[i], tf(big[i]).numpy())


def test_to_tensor_keeps_non_uint8_values_and_rejects_tensors() -> None:
    arr = RNG.random((4, 5, 2)).astype(np.float64)
    out = T.ToTensor()(arr)
    assert out.dtype == engine.float64 and out.shape == (2, 4, 5)
    np.testing.assert_array_equal(out.numpy(), arr.transpose(2, 0, 1))
    with pytest.raises(TypeError, match="pic should be a PIL image or a NumPy array"):
        T.ToTensor()(out)


def test_to_tensor_accepts_pil_images() -> None:
    from PIL import Image

    pil = Image.fromarray(RGB)
    np.testing.assert_array_equal(T.ToTensor()(pil).numpy(), T.ToTensor()(RGB).numpy())


def test_normalize_errors() -> None:
    t = T.ToTensor()(RGB)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))(t)
    with pytest.raises(ValueError, match="mean has 2 values but the image has 3 channels"):
        T.Normalize((0.5, 0.5), (1.0,))(t)
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize((0.5,), (0.5,))(engine.from_numpy(GREY[None]))
    same = T.Normalize((0.5,), (0.5,), inplace=True)
    assert same(t) is t


@pytest.mark.parametrize("tf", [T.CenterCrop(5), T.CenterCrop((9, 12)), T.Resize((5, 4)),
                                T.Resize(14), T.Pad(2), T.Pad((1, 2, 3, 4), fill=7),
                                T.Pad(2, padding_mode="reflect")])
def test_deterministic_transforms_same_on_batch_and_samples(tf: T.Transform) -> None:
    out = tf.apply_batch(BATCH)
    for i in (0, 5, 15):
        np.testing.assert_array_equal(out[i], tf(BATCH[i]))
    rgb = np.stack([RGB, RGB[::-1]])
    out = tf.apply_batch(rgb)
    np.testing.assert_array_equal(out[1], tf(RGB[::-1]))
    # The same on a C x H x W tensor as on the H x W x C array (up to the uint8 rounding of
    # interpolated values; a fill value is in the image's own units, so only 0 compares).
    if getattr(tf, "fill", 0) != 0:
        return
    tol = 0.5 / 255 + 1e-6 if isinstance(tf, T.Resize) else 0
    np.testing.assert_allclose(tf(T.ToTensor()(RGB)).numpy(), T.ToTensor()(tf(RGB)).numpy(),
                               rtol=0, atol=tol)


def test_center_crop_and_pad_follow_torchvision_rules() -> None:
    img = np.arange(7 * 9, dtype=np.uint8).reshape(7, 9)
    np.testing.assert_array_equal(F.center_crop(img, 3), img[2:5, 3:6])
    np.testing.assert_array_equal(F.center_crop(img, (4, 4)), img[2:6, 2:6])  # round(1.5) = 2
    bigger = F.center_crop(img, (9, 10))
    assert bigger.shape == (9, 10) and bigger[0].sum() == 0 and bigger[-1].sum() == 0
    np.testing.assert_array_equal(bigger[1:8, 0:9], img)
    np.testing.assert_array_equal(F.pad(img, (1, 2)), np.pad(img, ((2, 2), (1, 1))))
    np.testing.assert_array_equal(F.pad(img, 2, padding_mode="edge"), np.pad(img, 2, "edge"))
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element"):
        T.Pad((1, 2, 3))


def test_resize_matches_torch_interpolate() -> None:
    torch = torch_or_skip()
    x = RNG.random((2, 3, 13, 17)).astype(np.float32)
    for size in [(7, 9), (30, 41), (13, 5)]:
        ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode="bilinear",
                                              align_corners=False, antialias=True).numpy()
        ours = T.Resize(size).apply_batch(engine.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours, ref, atol=2e-6)
        ref_n = torch.nn.functional.interpolate(torch.from_numpy(x), size=size,
                                                mode="nearest").numpy()
        np.testing.assert_array_equal(T.Resize(size, "nearest").apply_batch(
            engine.from_numpy(x)).numpy(), ref_n)
    assert T.Resize(14)(GREY).shape == (14, 18)  # smaller edge to 14, aspect kept


def _torch_warp(x: np.ndarray, matrix: list[float], mode: str, fill: float) -> np.ndarray:
    """torchvision's tensor affine, spelled out with torch.nn.functional.grid_sample."""
    torch = torch_or_skip()

    img = torch.from_numpy(x)[None]
    h, w = x.shape[-2:]
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
    base = torch.empty(1, h, w, 3)
    base[..., 0].copy_(torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w))
    base[..., 1].copy_(torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze(-1))
    base[..., 2].fill_(1)
    grid = base.view(1, h * w, 3).bmm(theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h]))
    grid = grid.view(1, h, w, 2)
    img = torch.cat((img, torch.ones(1, 1, h, w)), dim=1)
    out = torch.nn.functional.grid_sample(img, grid, mode=mode, padding_mode="zeros",
                                          align_corners=False)
    mask, out = out[:, -1:], out[:, :-1]
    if mode == "nearest":
        out = torch.where(mask < 0.5, torch.full_like(out, fill), out)
    else:
        out = out * mask + (1.0 - mask) * fill
    return out[0].numpy()


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_rotate_and_affine_match_grid_sample(mode: str) -> None:
    torch_or_skip()
    x = RNG.random((3, 13, 17)).astype(np.float32)
    for angle in (30.0, -75.5, 123.0):
        m = F.inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
        ours = F.rotate(engine.from_numpy(x), angle, mode, fill=0.25).numpy()
        np.testing.assert_allclose(ours, _torch_warp(x, m, mode, 0.25), atol=1e-5)
    args = (12.0, [2.0, -1.0], 1.2, [5.0, -3.0])
    m = F.inverse_affine_matrix([0.0, 0.0], *args)
    ours = F.affine(engine.from_numpy(x), *args, interpolation=mode).numpy()
    np.testing.assert_allclose(ours, _torch_warp(x, m, mode, 0.0), atol=1e-5)


def test_rotation_direction_and_translation() -> None:
    img = np.arange(36, dtype=np.uint8).reshape(6, 6)
    np.testing.assert_array_equal(F.rotate(img, 90.0), np.rot90(img, 1))  # counter-clockwise
    np.testing.assert_array_equal(F.rotate(img, -90.0), np.rot90(img, -1))
    shifted = F.affine(img, 0.0, [2, 1], 1.0, 0.0)
    np.testing.assert_array_equal(shifted[1:, 2:], img[:-1, :-2])
    assert shifted[0].sum() == 0 and shifted[:, :2].sum() == 0
    rgb = RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(F.rotate(rgb, 90.0), np.rot90(rgb, 1, axes=(0, 1)))


def test_random_crop_batch_draws_per_sample_windows() -> None:
    engine.manual_seed(3)
    tf = T.RandomCrop(5, padding=2)
    out = tf.apply_batch(BATCH)
    assert out.shape == (16, 5, 5)
    padded = np.pad(BATCH, ((0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(16):
        hits = [(t, lf) for t in range(padded.shape[1] - 4) for lf in range(padded.shape[2] - 4)
                if np.array_equal(padded[i, t:t + 5, lf:lf + 5], out[i])]
        assert hits, f"sample {i} is not a window of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 3  # not one offset for the whole batch
    single = tf(GREY)
    assert single.shape == (5, 5)
    with pytest.raises(ValueError, match=r"Required crop size \(9, 9\) is larger than input image"):
        T.RandomCrop(9)(GREY)
    assert T.RandomCrop(9, pad_if_needed=True)(GREY).shape == (9, 9)


def test_random_flips_per_sample_and_seeded() -> None:
    engine.manual_seed(0)
    out = T.RandomHorizontalFlip().apply_batch(BATCH)
    flipped = [np.array_equal(out[i], BATCH[i, :, ::-1]) for i in range(16)]
    kept = [np.array_equal(out[i], BATCH[i]) for i in range(16)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)
    engine.manual_seed(0)
    again = T.RandomHorizontalFlip().apply_batch(BATCH)
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(GREY), GREY[::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(GREY), GREY)


def test_random_rotation_and_affine_batches() -> None:
    engine.manual_seed(1)
    rot = T.RandomRotation((90, 90)).apply_batch(BATCH[:, :7, :7])
    for i in range(4):
        np.testing.assert_array_equal(rot[i], np.rot90(BATCH[i, :7, :7]))
    tf = T.RandomAffine(degrees=15, translate=(0.2, 0.2), scale=(0.9, 1.1), shear=5)
    out = tf.apply_batch(BATCH)
    assert out.shape == BATCH.shape and out.dtype == np.uint8
    assert tf(GREY).shape == GREY.shape
    assert len({out[i].tobytes() for i in range(16)}) == 16
    with pytest.raises(ValueError, match="translate should be a sequence of two values"):
        T.RandomAffine(0, translate=(2, 0))
    with pytest.raises(ValueError, match=r"expand=True\) is not supported"):
        T.RandomRotation(10, expand=True)


def test_compose_batchable_and_lambda() -> None:
    assert T.Compose([T.RandomCrop(5), T.ToTensor()]).batchable
    lam = T.Lambda(lambda t: t + 1)
    assert not T.Compose([T.ToTensor(), lam]).batchable
    assert int(lam(1)) == 2
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(3)
    text = repr(T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
    assert "ToTensor()" in text and "Normalize(mean=[0.5], std=[0.5])" in text


def test_tensor_batch_transforms_keep_tensor_type() -> None:
    x = T.ToTensor().apply_batch(BATCH)
    engine.manual_seed(0)
    out = T.Compose([T.RandomCrop(5), T.RandomHorizontalFlip(), T.Normalize((0.5,), (0.5,))]
                    ).apply_batch(x)
    assert isinstance(out, engine.Tensor) and out.shape == (16, 1, 5, 5)

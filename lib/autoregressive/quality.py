"""Sample quality measured, not asserted: a small MNIST classifier scores a model's samples.

A likelihood says how well a model explains the test images; it does not say whether its
samples look like digits. A classifier trained once on the labelled training images (each
batch binarized afresh, as the samples are binary) reads a set of binary images and gives two
numbers:

- **confident**: the share of images it labels with probability at least 0.9 (a digit it
  recognises, rather than a stroke or a blob);
- **coverage**: the entropy of its label histogram in bits, at most log2 10 = 3.32 when every
  digit is drawn equally often (a model that draws only 1s scores 0).

The same two numbers for real test images are the reference. The classifier is shipped with
the package (``records/classifier.pt``, checked by its sha256) and loaded by
:func:`classifier`; ``python -m autoregressive.quality`` trains it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import binarized_mnist, dynamic_binarize, grey_mnist, mnist_labels

CONFIDENT = 0.9  # the probability above which a label counts as confident


class DigitClassifier(nn.Module):
    """A small convolutional network: 28 x 28 binary images -> logits of the 10 digits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)  # (B, 16, 28, 28), pooled to 14 x 14
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)  # (B, 32, 14, 14), pooled to 7 x 7
        self.hidden = nn.Linear(32 * 7 * 7, 128)
        self.out = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, 28, 28).to(self.out.weight.dtype)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(F.relu(self.hidden(x.flatten(1))))


@dataclass(frozen=True)
class Quality:
    confident: float  # share of images labelled with probability >= CONFIDENT
    coverage: float  # entropy of the label histogram, bits (at most log2 10)
    counts: tuple[int, ...]  # how many images got each label, 0..9
    images: int

    def __str__(self) -> str:
        return (f"{self.confident:.0%} confident, label entropy {self.coverage:.2f} of "
                f"{math.log2(10):.2f} bits, over {self.images:,}")


@torch.no_grad()
def sample_quality(images: torch.Tensor, model: DigitClassifier | None = None) -> Quality:
    """The two numbers for (N, 784) binary images (samples, or real test images)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 2 or images.shape[1] != 784:
        raise ValueError("sample_quality needs a (N, 784) tensor of binary MNIST-sized images")
    if len(images) == 0:
        raise ValueError("sample_quality needs at least one image")
    model = model if model is not None else classifier()
    p = torch.cat([torch.softmax(model(part.cpu().float()), dim=1)
                   for part in images.split(1000)])
    labels = p.argmax(dim=1)
    counts = torch.bincount(labels, minlength=10)
    share = counts.double() / len(images)
    entropy = -(share[share > 0] * share[share > 0].log2()).sum().item()
    return Quality((p.max(dim=1).values >= CONFIDENT).double().mean().item(), entropy,
                   tuple(counts.tolist()), len(images))


# ---------------------------------------------------------------------------------------------
# Training once, shipping, loading


def _shipped() -> Path:
    return Path(__file__).parent / "records"


def train(epochs: int = 6, seed: int = 0, log=print) -> tuple[DigitClassifier, float]:
    """Train the classifier on the training images (binarized afresh each batch); returns it
    and its accuracy on the book's fixed binarization of the test images."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitClassifier()
    grey, labels = grey_mnist("train"), mnist_labels("train")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(grey) / 100)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    for epoch in range(epochs):
        order = torch.randperm(len(grey), generator=generator)
        for start in range(0, len(grey), 100):
            rows = order[start:start + 100]
            x = dynamic_binarize(grey[rows], generator)
            loss = F.cross_entropy(model(x), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        log(f"epoch {epoch + 1}: test accuracy {accuracy(model):.2%}")
    return model.eval(), accuracy(model)


@torch.no_grad()
def accuracy(model: DigitClassifier) -> float:
    model.eval()
    x, y = binarized_mnist("test"), mnist_labels("test")
    right = sum((model(x[k:k + 1000]).argmax(1) == y[k:k + 1000]).sum().item()
                for k in range(0, len(x), 1000))
    return right / len(x)


def ship(model: DigitClassifier, test_accuracy: float) -> dict:
    path = _shipped() / "classifier.pt"
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    shipped = _load(path)
    info = {"test_accuracy": test_accuracy, "shipped_accuracy": accuracy(shipped),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "reference": sample_quality(binarized_mnist("test"), shipped).__dict__}
    (_shipped() / "classifier.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _load(path: Path) -> DigitClassifier:
    model = DigitClassifier()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


_LOADED: DigitClassifier | None = None


def classifier() -> DigitClassifier:
    """The shipped classifier, after checking its sha256."""
    global _LOADED
    if _LOADED is None:
        path, info = _shipped() / "classifier.pt", _shipped() / "classifier.json"
        if not path.is_file() or not info.is_file():
            raise FileNotFoundError(f"the classifier is not shipped at {path}: "
                                    "python -m autoregressive.quality trains it")
        expected = json.loads(info.read_text())["sha256"]
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise ValueError(f"{path} does not match its sha256: reinstall the package")
        _LOADED = _load(path)
    return _LOADED


def info() -> dict:
    """The shipped classifier's test accuracy and the reference figures of real images."""
    return json.loads((_shipped() / "classifier.json").read_text())


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())
    trained, test_accuracy = train()
    print(ship(trained, test_accuracy))

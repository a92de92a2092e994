"""The sample classifier: shipped and checked, accurate on the test images, and its two numbers
mean what they say (a set of one repeated digit covers nothing; real digits are confident)."""

from __future__ import annotations

import math

import pytest
import torch

import autoregressive as ar
from autoregressive import quality


def test_the_shipped_classifier_reads_the_test_digits():
    info = quality.info()
    assert info["shipped_accuracy"] > 0.98
    x, y = ar.binarized_mnist("test")[:1000], ar.mnist_labels("test")[:1000]
    with torch.no_grad():
        right = (quality.classifier()(x).argmax(1) == y).double().mean().item()
    assert right > 0.97


def test_real_digits_score_high_and_one_repeated_image_covers_nothing():
    real = quality.sample_quality(ar.binarized_mnist("test")[:2000])
    assert real.confident > 0.9 and real.coverage > 3.2  # all ten digits, nearly evenly
    assert real.coverage <= math.log2(10) + 1e-9 and sum(real.counts) == 2000
    one = quality.sample_quality(ar.binarized_mnist("test")[:1].expand(50, -1))
    assert one.coverage == 0 and max(one.counts) == 50
    noise = torch.bernoulli(torch.full((500, 784), 0.5), generator=torch.Generator().manual_seed(0))
    assert quality.sample_quality(noise).confident < real.confident - 0.3


def test_bad_images_are_refused():
    for bad in (torch.zeros(3, 10), torch.zeros(0, 784), [[0.0] * 784]):
        with pytest.raises(ValueError, match="784|at least one"):
            quality.sample_quality(bad)

"""Tests of course_utils.metrics.deletion_insertion with hand-computable curves."""
import math

import pytest
import torch
from torch import nn

from course_utils.explain import upsample_map
from course_utils.metrics import deletion_insertion


def sum_model(h: int = 2, w: int = 2) -> nn.Module:
    """Two classes: z_0 = sum of the pixels, z_1 = 0, so p_0 = sigmoid(sum)."""
    fc = nn.Linear(h * w, 2, bias=False)
    with torch.no_grad():
        fc.weight.zero_()
        fc.weight[0] = 1.0
    return nn.Sequential(nn.Flatten(), fc)


def sigmoid(v):
    return [1 / (1 + math.exp(-s)) for s in v]


def trapezoid(p, dx):
    return sum((a + b) / 2 * dx for a, b in zip(p[:-1], p[1:]))


X = torch.tensor([[[[3.0, 1.0], [0.0, 2.0]]]])  # pixel sum 6


def test_curves_and_areas_by_hand():
    # Map = the image: order 3, 2, 1, 0. Deletion leaves sums 6, 3, 1, 0, 0;
    # insertion (from zeros) reaches 0, 3, 5, 6, 6.
    r = deletion_insertion(sum_model(), X, 0, X[:, 0], steps=4)
    torch.testing.assert_close(r.fractions, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64))
    dele, ins = sigmoid([6, 3, 1, 0, 0]), sigmoid([0, 3, 5, 6, 6])
    torch.testing.assert_close(r.deletion[0], torch.tensor(dele, dtype=torch.float64))
    torch.testing.assert_close(r.insertion[0], torch.tensor(ins, dtype=torch.float64))
    torch.testing.assert_close(r.deletion_auc, torch.tensor([trapezoid(dele, 0.25)], dtype=torch.float64))
    torch.testing.assert_close(r.insertion_auc, torch.tensor([trapezoid(ins, 0.25)], dtype=torch.float64))


def test_a_better_map_deletes_faster():
    good = deletion_insertion(sum_model(), X, 0, X[:, 0], steps=4)
    bad = deletion_insertion(sum_model(), X, 0, -X[:, 0], steps=4)  # reversed order
    # Reversed: deletion removes 0, 1, 2, 3 -> sums 6, 6, 5, 3, 0.
    torch.testing.assert_close(bad.deletion[0], torch.tensor(sigmoid([6, 6, 5, 3, 0]), dtype=torch.float64))
    assert good.deletion_auc[0] < bad.deletion_auc[0]
    assert good.insertion_auc[0] > bad.insertion_auc[0]


def test_equal_chunks_and_ties_in_row_major_order():
    # steps = 2 on 4 pixels: two pixels per chunk. A constant map keeps row-major order:
    # first (0, 0) and (0, 1) (values 3 and 1), then the rest.
    r = deletion_insertion(sum_model(), X, 0, torch.zeros(1, 2, 2), steps=2)
    torch.testing.assert_close(r.deletion[0], torch.tensor(sigmoid([6, 2, 0]), dtype=torch.float64))
    torch.testing.assert_close(r.insertion[0], torch.tensor(sigmoid([0, 4, 6]), dtype=torch.float64))
    torch.testing.assert_close(r.deletion_auc[0], torch.tensor(trapezoid(sigmoid([6, 2, 0]), 0.5),
                                                                dtype=torch.float64))


def test_map_is_resized_and_only_its_order_matters():
    model = sum_model(4, 4)
    x = torch.arange(16.0).reshape(1, 1, 4, 4) / 16
    small = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    big = upsample_map(small, 4)  # what the function does to a map of another size (bilinear)
    a = deletion_insertion(model, x, 0, small, steps=4)
    b = deletion_insertion(model, x, 0, big, steps=4)
    c = deletion_insertion(model, x, 0, 10 * big + 5, steps=4)  # a monotone rescaling
    torch.testing.assert_close(a.deletion, b.deletion)
    torch.testing.assert_close(b.deletion, c.deletion)
    torch.testing.assert_close(b.insertion, c.insertion)


def test_baseline_equal_to_the_image_gives_flat_curves():
    r = deletion_insertion(sum_model(), X, 0, X[:, 0], steps=4, baseline=X[0])
    p = sigmoid([6])[0]
    torch.testing.assert_close(r.deletion, torch.full((1, 5), p, dtype=torch.float64))
    torch.testing.assert_close(r.deletion_auc, torch.tensor([p], dtype=torch.float64))
    torch.testing.assert_close(r.insertion_auc, torch.tensor([p], dtype=torch.float64))


def test_batch_per_image_targets_and_errors():
    x = torch.cat([X, 2 * X])
    r = deletion_insertion(sum_model(), x, [0, 1], x[:, 0], steps=1)
    # steps = 1: only the two ends. Class 1's probability is 1 - sigmoid(sum).
    torch.testing.assert_close(r.deletion[1], torch.tensor([1 - sigmoid([12])[0], 0.5], dtype=torch.float64))
    torch.testing.assert_close(r.insertion[0], torch.tensor(sigmoid([0, 6]), dtype=torch.float64))
    with pytest.raises(ValueError, match="steps"):
        deletion_insertion(sum_model(), X, 0, X[:, 0], steps=5)
    with pytest.raises(ValueError, match="2 maps but 1 images"):
        deletion_insertion(sum_model(), X, 0, torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="NaN"):
        deletion_insertion(sum_model(), X, 0, torch.full((1, 2, 2), float("nan")))

"""course_utils.classvis: lesson 02's regularised class visualisation."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from course_utils import classvis


def _tiny_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).double()


def test_blur_image_is_scipys_gaussian_filter_on_the_last_two_axes():
    x = torch.rand(2, 1, 9, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = classvis.blur_image(x, 0.6)
    want = gaussian_filter(x.numpy(), sigma=(0, 0, 0.6, 0.6))
    assert got.dtype == torch.float64 and np.allclose(got.numpy(), want, atol=1e-12)
    assert torch.equal(classvis.blur_image(x, 0), x) and classvis.blur_image(x, 0) is not x


def test_roughness_of_flat_and_checkerboard_images():
    flat = torch.full((1, 1, 6, 6), 0.3)
    board = (torch.arange(6).view(-1, 1) + torch.arange(6)).remainder(2).float().view(1, 1, 6, 6)
    assert classvis.roughness(torch.cat([flat, board])).tolist() == [0.0, 1.0]


def test_faint_noise_is_seeded_and_in_range():
    a, b = classvis.faint_noise(3, seed=5), classvis.faint_noise(3, seed=5)
    assert torch.equal(a, b) and a.shape == (3, 1, 28, 28) and a.dtype == torch.float64
    assert 0 <= a.min() and a.max() < 0.2


def test_without_regularisers_it_is_plain_adam_ascent_with_a_clamp():
    model = _tiny_cnn()
    x0 = 0.2 * torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = torch.tensor([2, 0])
    got, _ = classvis.class_visualisation(model, x0, c, steps=20, lr=0.05, l2=0, jitter=0,
                                          blur_every=0)
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        (-model(x)[[0, 1], c].sum()).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    assert torch.allclose(got, x.detach(), atol=1e-12)


def test_rows_do_not_interact_score_rises_and_model_is_left_as_it_was():
    model = _tiny_cnn(1)
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    x0 = classvis.faint_noise(3, shape=(1, 8, 8))
    c = torch.tensor([0, 1, 2])
    batch, log = classvis.class_visualisation(model, x0, c, steps=30, log_every=10)
    alone, _ = classvis.class_visualisation(model, x0[1:2], c[1:2], steps=30)
    assert torch.allclose(batch[1:2], alone, atol=1e-12)
    assert [s for s, _ in log] == [10, 20, 30] and log[-1][1] > log[0][1]
    assert 0 <= batch.min() and batch.max() <= 1
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    model.eval()
    plain, _ = classvis.class_visualisation(model, x0, c, steps=30, l2=0, jitter=0, blur_every=0)
    with torch.no_grad():
        assert (model(plain)[[0, 1, 2], c] > model(x0)[[0, 1, 2], c]).all()


def test_each_regulariser_changes_the_result():
    model = _tiny_cnn(2)
    x0 = classvis.faint_noise(1, shape=(1, 8, 8))
    c = torch.tensor([1])
    full, _ = classvis.class_visualisation(model, x0, c, steps=20)
    for off in (dict(l2=0), dict(jitter=0), dict(blur_every=0)):
        other, _ = classvis.class_visualisation(model, x0, c, steps=20, **off)
        assert not torch.allclose(full, other), off


def test_bad_classes_are_refused():
    model = _tiny_cnn()
    x0 = classvis.faint_noise(2, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="one class per row"):
        classvis.class_visualisation(model, x0, torch.tensor([0]), steps=1)
    with pytest.raises(ValueError, match="does not have"):
        classvis.class_visualisation(model, x0, torch.tensor([0, 3]), steps=1)

"""Tests of course_utils.explain against hand-computed cases and, where installed, captum.

Every expected number below is worked out by hand in the comments next to it, on models whose
weights are set by hand.
"""
import importlib
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import explain as ex
from course_utils.hooks import count_hooks


# Tiny tensors: one thread (conftest.one_thread) avoids OpenMP spin-waiting on 2 cores.
pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- tiny models

W_LIN = torch.tensor([[1.0, 0.0, -1.0, 2.0],
                      [0.0, 1.0, 1.0, -1.0],
                      [2.0, -1.0, 0.0, 0.0]])
B_LIN = torch.tensor([0.5, -0.5, 0.0])


def linear_net(shape=(1, 2, 2)):
    """logits = W flatten(x) + b: the gradient of class c is row c of W, whatever x is."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    assert math.prod(shape) == 4
    with torch.no_grad():
        model[1].weight.copy_(W_LIN)
        model[1].bias.copy_(B_LIN)
    return model


class GapNet(nn.Module):
    """features = ReLU(conv1x1(x)) with A_0 = x and A_1 = 5 - x; logits = fc(mean_ij A)."""

    def __init__(self, boom: str | None = None):
        super().__init__()
        self.boom = boom
        self.features = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
            self.features[0].bias.copy_(torch.tensor([0.0, 5.0]))
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, -1.0], [-2.0, 1.0]]))
            self.fc.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))

    def forward(self, x):
        if self.boom == "pre":
            raise RuntimeError("boom before the hooked layer")
        a = self.features(x)
        if self.boom == "post":
            raise RuntimeError("boom after the hooked layer")
        return self.fc(self.pool(a).flatten(1))


X_GAP = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]],
                      [[[0.0, 1.0], [0.0, 1.0]]]])
# Image 0: A_0 = [[1,2],[3,4]], A_1 = [[4,3],[2,1]].  Image 1: A_0 = [[0,1],[0,1]], A_1 = [[5,4],[5,4]].
# logits image 0: means (2.5, 2.5) -> (2.6, -1.05, -2.2), top class 0.
# logits image 1: means (0.5, 4.5) -> (0.6, -4.05, 3.8), top class 2.


def tiny_cnn(in_channels=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))


def state(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [p.detach().clone() for p in model.parameters()])


def assert_untouched(model, before):
    training, requires, values = state(model)
    assert count_hooks(model) == 0
    assert training == before[0]
    assert requires == before[1]
    for p, v in zip(model.parameters(), before[2], strict=True):
        assert p.grad is None
        torch.testing.assert_close(p.detach(), v, rtol=0, atol=0)


# --------------------------------------------------------------------------- saliency

def test_saliency_sum_logits_is_squared_column_sum_of_w():
    # d(z_0 + z_1 + z_2)/dx = sum of the rows of W = [3, 0, 0, 1]; squared = [9, 0, 0, 1].
    x = torch.randn(2, 1, 2, 2)
    sal = ex.saliency_sum_logits(linear_net(), x)
    torch.testing.assert_close(sal, torch.tensor([[[9.0, 0.0], [0.0, 1.0]]]).expand(2, 2, 2))


def test_saliency_sum_logits_sums_channels():
    # x of shape (1, 2, 1, 2): channel 0 <- [3, 0], channel 1 <- [0, 1]; 9 + 0, 0 + 1.
    sal = ex.saliency_sum_logits(linear_net(), torch.zeros(1, 2, 1, 2))
    torch.testing.assert_close(sal, torch.tensor([[[9.0, 1.0]]]))


def test_saliency_class_score_is_abs_weight_row():
    x = torch.randn(2, 1, 2, 2)
    sal = ex.saliency_class_score(linear_net(), x, [0, 2])
    # |W_0| = [1, 0, 1, 2], |W_2| = [2, 1, 0, 0]
    torch.testing.assert_close(sal, torch.tensor([[[1.0, 0.0], [1.0, 2.0]],
                                                  [[2.0, 1.0], [0.0, 0.0]]]))


def test_saliency_class_score_max_over_channels():
    # (1, 2, 1, 2): |W_0| -> channel 0 [1, 0], channel 1 [1, 2] -> max [1, 2]
    sal = ex.saliency_class_score(linear_net(), torch.zeros(1, 2, 1, 2), 0)
    torch.testing.assert_close(sal, torch.tensor([[[1.0, 2.0]]]))


def test_saliency_loss_by_hand():
    model = linear_net()
    x = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.5, -1.0], [2.0, 0.0]]]])
    t = torch.tensor([1, 0])
    # dL/dx_n = (softmax(z_n) - onehot(t_n)) W / N for the batch-mean cross-entropy.
    z = x.flatten(1) @ W_LIN.T + B_LIN
    expected = ((z.softmax(1) - F.one_hot(t, 3)) @ W_LIN / 2).abs().reshape(2, 1, 2, 2)
    raw = ex.saliency_loss(model, x, t, normalize=False)
    torch.testing.assert_close(raw, expected)
    # Per-image min-max: removes the 1/N factor, so an image alone gives the same map.
    norm = ex.saliency_loss(model, x, t)
    assert norm.shape == (2, 1, 2, 2)
    e = expected.flatten(1)
    e = (e - e.min(1, keepdim=True).values) / (e.max(1, keepdim=True).values - e.min(1, keepdim=True).values)
    torch.testing.assert_close(norm, e.reshape(2, 1, 2, 2))
    torch.testing.assert_close(ex.saliency_loss(model, x[:1], t[:1]), norm[:1])


def test_saliency_works_inside_no_grad_and_leaves_x_alone():
    model, x = tiny_cnn(), torch.rand(2, 3, 5, 5)
    x0 = x.clone()
    with torch.no_grad():
        sal = ex.saliency_class_score(model, x, 1)
    assert sal.shape == (2, 5, 5) and not sal.requires_grad and sal.device == x.device
    assert not x.requires_grad and x.grad is None
    torch.testing.assert_close(x, x0, rtol=0, atol=0)


# --------------------------------------------------------------------------- SmoothGrad

def test_smoothgrad_of_a_linear_model_is_the_weight_row():
    x = torch.randn(2, 1, 2, 2)
    sg = ex.smoothgrad(linear_net(), x, [0, 2], n_samples=5, noise_level=0.5)
    torch.testing.assert_close(sg, ex.saliency_class_score(linear_net(), x, [0, 2]))


class SquareNet(nn.Module):
    """z_0 = sum(x^2), z_1 = 0: the gradient of z_0 is 2x, so SmoothGrad = |2x + 2 sigma mean(eps)|."""

    def forward(self, x):
        s = x.pow(2).sum(dim=(1, 2, 3))
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def test_smoothgrad_noise_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]],   # range 3
                      [[[0.0, 0.5], [0.5, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]])  # range 0.5
    gen = torch.Generator().manual_seed(7)
    # drawn in float64 (the same on every CPU kind), then used in the images' float32
    eps = torch.stack([torch.randn(x.shape, generator=gen, dtype=torch.float64).float()
                       for _ in range(4)])                     # (samples, N, C, H, W)
    sigma = 0.2 * torch.tensor([3.0, 0.5]).reshape(2, 1, 1, 1)
    grads = 2 * x + 2 * sigma * eps                            # one gradient per noisy copy
    sg = ex.smoothgrad(SquareNet(), x, 0, n_samples=4, noise_level=0.2, seed=7)
    torch.testing.assert_close(sg, grads.mean(0).abs().amax(dim=1))          # |mean g|
    sq = ex.smoothgrad(SquareNet(), x, 0, n_samples=4, noise_level=0.2, seed=7, magnitude="square")
    torch.testing.assert_close(sq, grads.pow(2).mean(0).amax(dim=1))         # mean(g^2)
    # SmoothGrad-squared is the mean of the squares, not the square of the mean: the two
    # differ by the variance of the gradient over the samples, which is not small here.
    assert (sq - grads.mean(0).pow(2).amax(dim=1)).min() > 1e-3


SMOOTHGRAD_UNDER = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_explain import SquareNet
from course_utils import explain as ex
x = (torch.arange(2 * 3 * 8 * 8) / 384.0).reshape(2, 3, 8, 8)  # exact in every kernel
print(ex.smoothgrad(SquareNet(), x, 0, n_samples=3, seed=5).double().numpy().tobytes().hex())
"""


def test_smoothgrad_noise_is_the_same_under_other_cpu_kernels():
    # float32 normal draws of 16 values or more differ in the last bit between ATen's AVX2 and
    # scalar kernels; SquareNet's gradient 2x passes those bits straight into the map.
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = SMOOTHGRAD_UNDER.format(tests=str(Path(__file__).parent))
    # both interpreters at once: each spends its seconds importing torch
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, **extra})
             for extra in ({}, {"ATEN_CPU_CAPABILITY": "default"})]
    maps = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        maps.append(out)
    assert maps[0] and maps[0] == maps[1]


def test_saliency_loss_keeps_its_digits_when_the_model_is_sure():
    # logits (0, 17) for target 1: 1 - p_1 = 4.1e-8, below float32's spacing under 1 (6e-8), so
    # a float32 softmax rounds p_1 to 1 and drops the -(1 - p_1) * w_1 term of dL/dx.
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    model = nn.Sequential(nn.Flatten(), linear)
    x = torch.tensor([17.0, 1.0]).reshape(1, 2, 1, 1)
    logits = torch.tensor([0.0, 17.0], dtype=torch.float64)
    p = logits.softmax(0)
    expected = (linear.weight.double().T @ (p - torch.tensor([0.0, 1.0], dtype=torch.float64))).abs()
    got = ex.saliency_loss(model, x, 1, normalize=False)[0].flatten()
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=0)


def test_smoothgrad_is_deterministic_and_leaves_global_rng_alone():
    model, x = tiny_cnn(), torch.rand(2, 3, 5, 5)
    rng = torch.get_rng_state()
    a = ex.smoothgrad(model, x, [1, 3], n_samples=4, seed=3)
    b = ex.smoothgrad(model, x, [1, 3], n_samples=4, seed=3)
    c = ex.smoothgrad(model, x, [1, 3], n_samples=4, seed=4)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # No noise and one sample: plain class-score saliency.
    torch.testing.assert_close(ex.smoothgrad(model, x, [1, 3], n_samples=1, noise_level=0.0),
                               ex.saliency_class_score(model, x, [1, 3]))


# --------------------------------------------------------------------------- CAM / Grad-CAM

CAM_T12 = torch.tensor([[[-3.5, -2.0], [-0.5, 1.0]],    # image 0, class 1: 0.5 A_0 - A_1
                        [[5.0, 2.0], [5.0, 2.0]]])       # image 1, class 2: -2 A_0 + A_1


def test_cam_by_hand():
    model = GapNet()
    torch.testing.assert_close(ex.cam(model, X_GAP, [1, 2], "features", "fc"), CAM_T12)
    # class 0 is A_0 itself
    torch.testing.assert_close(ex.cam(model, X_GAP, 0, "features", "fc"), X_GAP[:, 0])


def test_cam_top_k_keeps_the_largest_weights():
    # class 1 weights (0.5, -1): keep 0.5 -> 0.5 A_0.  class 2 weights (-2, 1): keep 1 -> A_1.
    got = ex.cam(GapNet(), X_GAP, [1, 2], "features", "fc", top_k=1)
    torch.testing.assert_close(got, torch.tensor([[[0.5, 1.0], [1.5, 2.0]], [[5.0, 4.0], [5.0, 4.0]]]))
    with pytest.raises(ValueError, match="top_k must be in 1..2"):
        ex.cam(GapNet(), X_GAP, 0, "features", "fc", top_k=3)


def test_cam_mean_plus_bias_gives_the_logit():
    model, x = tiny_cnn(), torch.rand(3, 3, 6, 6)
    t = [0, 4, 2]
    maps = ex.cam(model, x, t, feature_layer="3", fc_layer="6")
    logits = model(x)
    torch.testing.assert_close(maps.mean(dim=(1, 2)) + model[6].bias[t],
                               logits[range(3), t].detach())


def test_grad_cam_by_hand_equals_relu_cam_over_hw():
    model = GapNet()
    # d z_c / d A_k(i,j) = w_ck / (h w), so alpha_k = w_ck / 4 and Grad-CAM = ReLU(CAM) / 4.
    got = ex.grad_cam(model, X_GAP, [1, 2], layer="features")
    torch.testing.assert_close(got, torch.tensor([[[0.0, 0.0], [0.0, 0.25]],
                                                  [[1.25, 0.5], [1.25, 0.5]]]))
    torch.testing.assert_close(ex.grad_cam(model, X_GAP, [1, 2], layer="features", relu=False),
                               CAM_T12 / 4)
    # target None: top classes are 0 and 2 (see X_GAP's comment).
    torch.testing.assert_close(ex.grad_cam(model, X_GAP, layer="features"),
                               torch.tensor([[[0.25, 0.5], [0.75, 1.0]], [[1.25, 0.5], [1.25, 0.5]]]))


def test_grad_cam_equals_cam_on_a_random_gap_network():
    model, x = tiny_cnn(), torch.rand(2, 3, 3, 3)
    c = ex.cam(model, x, [2, 3], feature_layer="3", fc_layer="6")
    g = ex.grad_cam(model, x, [2, 3], layer="3", relu=False)
    torch.testing.assert_close(g, c / 9)


class MaxPoolNet(GapNet):
    def forward(self, x):
        return self.fc(self.features(x).amax(dim=(2, 3)))


class FlatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def test_cam_refuses_models_it_does_not_describe():
    with pytest.raises(ValueError, match="not fc\\(global average pool"):
        ex.cam(MaxPoolNet(), X_GAP, 0, "features", "fc")
    ex.cam(MaxPoolNet(), X_GAP, 0, "features", "fc", check_gap=False)  # the approximation
    with pytest.raises(ValueError, match="'fc' takes 8 inputs but 'conv' has 2 channels"):
        ex.cam(FlatNet(), X_GAP, 0, "conv", "fc")
    with pytest.raises(TypeError, match="needs the final nn.Linear"):
        ex.cam(GapNet(), X_GAP, 0, "features", "pool")


def test_upsample_map_by_hand():
    # [0, 4] to width 4 with align_corners=False samples at -0.25, 0.25, 0.75, 1.25 -> 0, 1, 3, 4
    m = torch.tensor([[[0.0, 4.0]]])
    torch.testing.assert_close(ex.upsample_map(m, (1, 4)), torch.tensor([[[0.0, 1.0, 3.0, 4.0]]]))
    assert ex.upsample_map(torch.rand(2, 3, 3), 7).shape == (2, 7, 7)


def test_normalize_map_2x2_and_constant_warning():
    m = torch.tensor([[[1.0, 3.0], [5.0, 9.0]], [[2.0, 2.0], [2.0, 2.0]]])
    with pytest.warns(UserWarning, match=r"sample\(s\) \[1\] is constant"):
        out = ex.normalize_map(m)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.25], [0.5, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.normalize_map(m[:1])  # no constant map, no warning


# --------------------------------------------------------------------------- filters

def test_filter_activation_by_hand():
    torch.testing.assert_close(ex.filter_activation(GapNet(), X_GAP, "features", 1), 5 - X_GAP[:, 0])
    torch.testing.assert_close(ex.filter_activation(GapNet(), X_GAP, "features.0", 0), X_GAP[:, 0])


def test_filter_visualization_by_hand():
    # Objective sum(A_0) = sum(x): constant gradient 1, so every Adam step adds lr to each pixel.
    model = GapNet()
    before = state(model)
    x0 = X_GAP[:1].clone()
    img, hist = ex.filter_visualization(model, x0, "features", 0, steps=3, lr=0.1)
    torch.testing.assert_close(img, X_GAP[:1] + 0.3)
    assert hist == pytest.approx([10.0, 10.4, 10.8])
    torch.testing.assert_close(x0, X_GAP[:1], rtol=0, atol=0)
    # Filter 1 (5 - x): the pixels go down instead, the objective up the same way.
    img, hist = ex.filter_visualization(model, x0, "features", 1, steps=3, lr=0.1)
    torch.testing.assert_close(img, X_GAP[:1] - 0.3)
    assert hist == pytest.approx([10.0, 10.4, 10.8])
    assert_untouched(model, before)


def test_filter_visualization_raises_the_objective_from_noise():
    model = tiny_cnn()
    gen = torch.Generator().manual_seed(0)
    img, hist = ex.filter_visualization(model, torch.rand(1, 3, 6, 6, generator=gen), "1", 2, steps=15)
    assert img.shape == (1, 3, 6, 6) and len(hist) == 15
    assert hist[-1] > hist[0]


# --------------------------------------------------------------------------- prototypes

def test_class_prototypes_first_loss_and_log_steps():
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    means = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0, 3.0]])
    # zero logits: CE = ln 3; MSE(0, means) = (1 + 4 + 9) / 12
    protos, log = ex.class_prototypes(model, means, lam=0.1, steps=10, log_every=4)
    assert [s for s, _ in log] == [0, 4, 8]
    assert log[0][1] == pytest.approx(math.log(3) + 0.1 * 14 / 12)
    assert log[-1][1] < log[0][1]
    # lam = 0: no regulariser, and with zero weights the CE gradient is 0: x never moves.
    protos, log = ex.class_prototypes(model, means, lam=0, steps=5, log_every=1)
    assert torch.count_nonzero(protos) == 0
    assert log == [(i, pytest.approx(math.log(3))) for i in range(5)]


def test_class_prototypes_match_the_source_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 3))
    before = state(model)
    means = torch.rand(3, 6)
    protos, log = ex.class_prototypes(model, means, steps=60, log_every=20)
    # The source's loop, written out (seed 000): zero_grad, loss, backward, step.
    frozen_flags = [p.requires_grad_(False) for p in model.parameters()]
    x = torch.zeros(3, 6, requires_grad=True)
    y = torch.arange(3)
    opt = torch.optim.Adam([x], lr=0.01)
    ref_log = []
    for i in range(60):
        opt.zero_grad()
        cost = nn.CrossEntropyLoss()(model(x), y) + 0.1 * nn.MSELoss()(x, means)
        cost.backward()
        opt.step()
        if i % 20 == 0:
            ref_log.append((i, cost.item()))
    for p in frozen_flags:
        p.requires_grad_(True)
    torch.testing.assert_close(protos, x.detach())
    assert log == [(i, pytest.approx(v)) for i, v in ref_log]
    assert_untouched(model, before)


def test_class_prototypes_cross_entropy_resolves_tiny_losses():
    # logits (20, 0) for target 0: CE = log(1 + e^-20) = 2.1e-9, which float32's log-softmax
    # rounds to 0 (1 + 2e-9 == 1 in float32); the helper computes it in float64.
    model = nn.Linear(1, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([20.0, 0.0]))
    _, log = ex.class_prototypes(model, torch.zeros(1, 1), lam=0, steps=1, log_every=1)
    assert log[0][1] == pytest.approx(math.log1p(math.exp(-20)), rel=1e-6)


# --------------------------------------------------------------------------- predict

def test_predict_by_hand():
    probs, top = ex.predict(GapNet(), X_GAP)
    torch.testing.assert_close(probs, torch.tensor([[2.6, -1.05, -2.2], [0.6, -4.05, 3.8]]).softmax(1))
    assert top.tolist() == [0, 2]


# --------------------------------------------------------------------------- errors

ALL_METHODS = {
    "saliency_sum_logits": lambda m, x: ex.saliency_sum_logits(m, x),
    "saliency_class_score": lambda m, x: ex.saliency_class_score(m, x, [0, 1]),
    "saliency_loss": lambda m, x: ex.saliency_loss(m, x, [0, 1]),
    "smoothgrad": lambda m, x: ex.smoothgrad(m, x, [0, 1], n_samples=2),
    "cam": lambda m, x: ex.cam(m, x, [0, 1], "features", "fc"),
    "grad_cam": lambda m, x: ex.grad_cam(m, x, [0, 1], layer="features"),
    "filter_activation": lambda m, x: ex.filter_activation(m, x, "features", 1),
    "filter_visualization": lambda m, x: ex.filter_visualization(m, x, "features", 1, steps=2),
    "predict": lambda m, x: ex.predict(m, x),
    "guided_backprop": lambda m, x: ex.guided_backprop(m, x, [0, 1]),
    "guided_gradcam": lambda m, x: ex.guided_gradcam(m, x, [0, 1], layer="features"),
    "integrated_gradients": lambda m, x: ex.integrated_gradients(m, x, [0, 1], steps=3),
}


@pytest.mark.filterwarnings("ignore:normalize_map")  # GapNet's loss gradient is constant per image
@pytest.mark.parametrize("name", list(ALL_METHODS))
def test_every_method_cleans_up_after_success_and_after_an_exception(name):
    method = ALL_METHODS[name]
    model = GapNet()
    model.train()
    model.fc.bias.requires_grad_(False)
    before = state(model)
    out = method(model, X_GAP)
    for t in out if isinstance(out, tuple) else (out,):
        if isinstance(t, torch.Tensor):
            assert not t.requires_grad
    assert_untouched(model, before)
    # The filter methods stop the forward pass at their layer, so they meet the error first.
    model.boom = "pre" if name.startswith("filter") else "post"
    with pytest.raises(RuntimeError, match="boom"):
        method(model, X_GAP)
    assert_untouched(model, before)
    x0 = X_GAP.clone()  # nor is the input changed
    method(GapNet(), X_GAP)
    torch.testing.assert_close(X_GAP, x0, rtol=0, atol=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ex.grad_cam(GapNet(), X_GAP, 0, layer="featurez"), KeyError, "no layer named 'featurez'"),
    (lambda: ex.cam(GapNet(), X_GAP, 0, "layer4", "fc"), KeyError, "no layer named 'layer4'"),
    (lambda: ex.filter_activation(GapNet(), X_GAP, "feat", 0), KeyError, "Did you mean: features"),
    (lambda: ex.saliency_class_score(GapNet(), X_GAP, 3), IndexError, r"valid targets are 0\.\.2"),
    (lambda: ex.saliency_loss(GapNet(), X_GAP, [0, -1]), IndexError, r"target -1 \(image 1\)"),
    (lambda: ex.cam(GapNet(), X_GAP, [0, 7], "features", "fc"), IndexError, "the model has 3 classes"),
    (lambda: ex.grad_cam(GapNet(), X_GAP, [0, 1, 2], layer="features"), ValueError,
     "target has length 3 but the batch has 2"),
    (lambda: ex.smoothgrad(GapNet(), X_GAP, [0]), ValueError, "length 1 but the batch has 2"),
    (lambda: ex.saliency_class_score(GapNet(), X_GAP, [0.0, 1.0]), TypeError, "integers"),
    (lambda: ex.saliency_class_score(GapNet(), X_GAP, torch.zeros(2, 1, dtype=torch.long)),
     ValueError, "1-D"),
    (lambda: ex.saliency_sum_logits(GapNet(), X_GAP[0]), ValueError, "4-D batch.*unsqueeze"),
    (lambda: ex.grad_cam(GapNet(), X_GAP.long(), layer="features"), TypeError, "floating-point"),
    (lambda: ex.saliency_class_score(GapNet(), X_GAP.clone().index_put_(
        (torch.tensor(1), torch.tensor(0), torch.tensor(0), torch.tensor(1)), torch.tensor(float("nan"))), 0),
     ValueError, r"NaN or inf values \(in sample\(s\) \[1\]\)"),
    (lambda: ex.cam(GapNet(), torch.full((1, 1, 2, 2), float("inf")), 0, "features", "fc"),
     ValueError, "NaN or inf"),
    (lambda: ex.saliency_class_score(GapNet(), torch.rand(2, 3, 2, 2), 0), ValueError,
     "first convolution 'features.0' expects 1 input channels, but x has 3"),
    (lambda: ex.filter_activation(GapNet(), X_GAP, "features", 2), IndexError,
     r"valid indices are 0\.\.1"),
    (lambda: ex.filter_visualization(GapNet(), X_GAP, "features", -1, steps=1), IndexError,
     "filter_index -1 is out of range"),
    (lambda: ex.grad_cam(GapNet(), X_GAP, 0, layer="fc"), ValueError, "4-D feature maps"),
    (lambda: ex.smoothgrad(GapNet(), X_GAP, 0, magnitude="raw"), ValueError, "'abs' or 'square'"),
    (lambda: ex.saliency_class_score(linear_net(), torch.rand(2, 2, 2, 2), 0), RuntimeError,
     r"failed on an input of shape \(2, 2, 2, 2\)"),
])
def test_errors_are_clear(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------- LIME

def lime_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(12, 4))


def test_lime_classifier_returns_probabilities():
    model = lime_model()
    images = np.random.default_rng(0).random((5, 8, 8, 3))
    fn = ex.lime_classifier_fn(model, batch_size=2)
    probs = fn(images)
    assert probs.shape == (5, 4)
    expected = model(torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2)).softmax(1)
    np.testing.assert_allclose(probs, expected.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    # uint8 is scaled like ToTensor does
    as_uint8 = (images * 255).round().astype(np.uint8)
    np.testing.assert_allclose(fn(as_uint8), fn(as_uint8 / 255.0), rtol=1e-5, atol=1e-7)


def test_slic_segmenter_labels_start_at_zero_and_are_contiguous():
    image = np.random.default_rng(0).random((16, 16, 3))
    seg = ex.slic_segmenter(n_segments=10)(image)
    assert seg.shape == (16, 16)
    assert np.array_equal(np.unique(seg), np.arange(seg.max() + 1))


def lime_mask(explanation, label, num_features, min_weight=0.05):
    """get_image_and_mask's mask written out: +1 / -1 on the top superpixels of ``label``."""
    mask = np.zeros(explanation.segments.shape, dtype=int)
    for feature, weight in explanation.local_exp[label][:num_features]:
        if abs(weight) >= min_weight:
            mask[explanation.segments == feature] = 1 if weight > 0 else -1
    return mask


def test_explain_lime_repeats_and_explains_the_asked_class():
    model = lime_model()
    image = np.random.default_rng(1).random((12, 12, 3))
    kwargs = dict(num_samples=40, n_segments=8, batch_size=20)
    before = state(model)
    r1 = ex.explain_lime(model, image, target=2, **kwargs)
    r2 = ex.explain_lime(model, image, target=2, **kwargs)
    assert r1.label == r2.label == 2
    assert np.array_equal(r1.mask, r2.mask) and np.array_equal(r1.image, r2.image)
    assert r1.explanation.local_exp[2] == r2.explanation.local_exp[2]
    assert set(r1.explanation.local_exp) == {2}  # the linear model was fitted for class 2 only
    assert np.array_equal(r1.mask, lime_mask(r1.explanation, 2, num_features=11))
    _, mask3 = r1.image_and_mask(num_features=3)
    assert np.array_equal(mask3, lime_mask(r1.explanation, 2, num_features=3))
    assert_untouched(model, before)
    top = ex.explain_lime(model, image, **kwargs).label
    assert top == int(ex.predict(model, torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None])[1])
    with pytest.raises(IndexError, match=r"valid targets are 0\.\.3"):
        ex.explain_lime(model, image, target=4, **kwargs)


def test_explain_lime_on_a_grey_image():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 8 * 8, 3))
    image = np.random.default_rng(2).random((10, 10))
    result = ex.explain_lime(model, image, target=1, num_samples=20, n_segments=6, batch_size=20)
    assert result.label == 1 and set(result.explanation.local_exp) == {1}
    assert result.explanation.image.shape == (10, 10, 3)  # LIME's image is RGB
    _, mask = result.image_and_mask(num_features=2)
    assert np.array_equal(mask, lime_mask(result.explanation, 1, num_features=2))


# --------------------------------------------------------------------------- captum

@pytest.mark.parametrize("channels", [1, 3])
def test_saliency_matches_captum(channels):
    captum_attr = importlib.import_module("captum.attr")
    model, x = tiny_cnn(channels), torch.rand(3, channels, 6, 6)
    t = torch.tensor([0, 3, 4])
    ref = captum_attr.Saliency(model).attribute(x.clone().requires_grad_(True), target=t, abs=True)
    torch.testing.assert_close(ex.saliency_class_score(model, x, t), ref.amax(dim=1))


def test_grad_cam_matches_captum():
    captum_attr = importlib.import_module("captum.attr")
    model, x = tiny_cnn(seed=1), torch.rand(3, 3, 6, 6)
    t = torch.tensor([1, 2, 0])
    ref = captum_attr.LayerGradCam(model, model[2]).attribute(x, target=t, relu_attributions=True)
    torch.testing.assert_close(ex.grad_cam(model, x, t, layer="2"), ref[:, 0].detach())

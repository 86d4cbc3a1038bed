"""Guided Backprop, Guided Grad-CAM and Integrated Gradients (course_utils.explain):
hand-computed cases, captum cross-checks, input checks and clean-up.

The reference libraries are test dependencies: a missing one fails these tests, never skips them.
"""
import copy
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import explain as ex
from course_utils.hooks import count_hooks
from course_utils.models import resnet18
from test_explain import X_GAP, GapNet, assert_untouched, linear_net, state, tiny_cnn
from test_reference_crosscheck import assert_maps_close

pytestmark = pytest.mark.usefixtures("one_thread")


def narrow_resnet18(seed=0):
    """course_utils' narrowed torchvision ResNet-18 (width 4), with non-trivial BatchNorm
    statistics so that the eval-mode network is not a near-identity at every BN."""
    torch.manual_seed(seed)
    model = resnet18(num_classes=5, width_divisor=16)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


def relu_calls(model, x):
    """How many times each nn.ReLU module runs in one forward pass."""
    calls = {}
    handles = [m.register_forward_hook(lambda mod, i, o: calls.__setitem__(mod, calls.get(mod, 0) + 1))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return calls


# --------------------------------------------------------------------------- Guided Backprop

class TwoLayer(nn.Module):
    """h = W1 x (x: 2 pixels), a = ReLU(h), z = W2 a."""

    def __init__(self, inplace=False):
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Linear(2, 3, bias=False), nn.ReLU(inplace), nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
            self.fc2.weight.copy_(torch.tensor([[2.0, -3.0, 1.0], [-1.0, 1.0, 1.0]]))

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


@pytest.mark.parametrize("inplace", [False, True])
def test_guided_backprop_by_hand(inplace):
    # x = (1, 2): h = (1, 2, 3), all positive. Class 0: dz/da = (2, -3, 1).
    # Plain gradient: W1^T (2, -3, 1) = (2 + 1, -3 + 1) = (3, -2).
    # Guided: the negative -3 is dropped: W1^T (2, 0, 1) = (3, 1).
    # x = (1, -2): h = (1, -2, -1): only unit 0 is on; guided = plain = W1^T (2, 0, 0) = (2, 0).
    x = torch.tensor([[1.0, 2.0], [1.0, -2.0]]).reshape(2, 1, 1, 2)
    model = TwoLayer(inplace)
    gb = ex.guided_backprop(model, x, 0)
    torch.testing.assert_close(gb.reshape(2, 2), torch.tensor([[3.0, 1.0], [2.0, 0.0]]))
    plain = ex._input_gradient(model, x, ex._class_score(0))
    torch.testing.assert_close(plain.reshape(2, 2), torch.tensor([[3.0, -2.0], [2.0, 0.0]]))
    assert gb.shape == x.shape and not gb.requires_grad and count_hooks(model) == 0


def test_guided_backprop_matches_captum_on_a_small_cnn():
    captum_attr = importlib.import_module("captum.attr")
    model, x, t = tiny_cnn(seed=1), torch.rand(3, 3, 8, 8), torch.tensor([1, 2, 0])
    ref = captum_attr.GuidedBackprop(model).attribute(x, target=t)
    ours = ex.guided_backprop(model, x, t)
    assert_maps_close(ours, ref.detach())
    # ... and it is not the plain gradient: the guided rule changed something.
    plain = ex._input_gradient(model, x, ex._class_score(t))
    assert (ours - plain).abs().max() > 0.1 * plain.abs().max()


def test_guided_backprop_matches_captum_on_a_narrow_resnet18():
    # torchvision's ResNet: every ReLU is in-place, and each BasicBlock applies its one
    # self.relu twice; captum clones each ReLU's input and rectifies its input gradient.
    captum_attr = importlib.import_module("captum.attr")
    model, x, t = narrow_resnet18(), torch.rand(2, 3, 64, 64), [1, 3]
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    assert relu_calls(model, x)[model.layer1[0].relu] == 2
    model.train()
    before = state(model)
    ours = ex.guided_backprop(model, x, t)
    assert_untouched(model, before)
    model.eval()  # captum runs the model as it is; ours runs it in eval mode
    ref = captum_attr.GuidedBackprop(model).attribute(x, target=t)
    assert_maps_close(ours, ref.detach())
    # The same as on a copy whose ReLUs are out of place and never shared.
    copy_ = copy.deepcopy(model)
    for block in [*copy_.layer1, *copy_.layer2, *copy_.layer3, *copy_.layer4]:
        block.relu, block.relu2 = nn.ReLU(), nn.ReLU()

        def forward(x, b=block):
            identity = x if b.downsample is None else b.downsample(x)
            out = b.relu(b.bn1(b.conv1(x)))
            return b.relu2(b.bn2(b.conv2(out)) + identity)
        block.forward = forward
    copy_.relu = nn.ReLU()
    torch.testing.assert_close(copy_(x), model(x))
    assert set(relu_calls(copy_, x).values()) == {1}
    assert_maps_close(ex.guided_backprop(copy_, x, t), ours)


class FunctionalRelu(nn.Module):
    def __init__(self, with_unused_module=False):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2, 3)
        if with_unused_module:
            self.act = nn.ReLU()

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("unused", [False, True], ids=["no-relu-module", "relu-module-unused"])
def test_guided_backprop_refuses_a_model_without_relu_modules(unused):
    model = FunctionalRelu(unused)
    with pytest.raises(TypeError, match="functional relu"):
        ex.guided_backprop(model, torch.rand(1, 1, 5, 5), 0)
    assert count_hooks(model) == 0


# --------------------------------------------------------------------------- Guided Grad-CAM

@pytest.mark.parametrize("arch", ["tiny", "resnet18"])
def test_guided_gradcam_matches_captum_with_its_nearest_upsampling(arch):
    captum_attr = importlib.import_module("captum.attr")
    if arch == "tiny":
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))
        x, t, layer = torch.rand(3, 3, 8, 12), [1, 2, 4], "2"      # Grad-CAM 4 x 6
    else:
        model, x, t, layer = narrow_resnet18(1).eval(), torch.rand(2, 3, 64, 64), [0, 4], "layer3"
    module = model.get_submodule(layer)
    ref = captum_attr.GuidedGradCam(model, module).attribute(x, target=t)  # interpolate_mode="nearest"
    ours = ex.guided_gradcam(model, x, t, layer=layer, mode="nearest")
    assert_maps_close(ours, ref.detach())
    # The default (the paper's bilinear upsampling) is the same composition with bilinear.
    coarse = ex.grad_cam(model, x, t, layer=layer)
    assert coarse.shape[1:] != x.shape[2:] and (coarse > 0).any()
    expected = ex.guided_backprop(model, x, t) * ex.upsample_map(coarse, x.shape[2:])[:, None]
    bilinear = ex.guided_gradcam(model, x, t, layer=layer)
    assert_maps_close(bilinear, expected)
    assert not torch.allclose(bilinear, ours)


def test_guided_gradcam_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="'bilinear'.*'nearest'"):
        ex.guided_gradcam(GapNet(), X_GAP, 0, layer="features", mode="bicubic")


# --------------------------------------------------------------------------- Integrated Gradients

@pytest.mark.parametrize("method", ["riemann_trapezoid", "riemann_left", "riemann_right",
                                    "riemann_middle", "gausslegendre"])
def test_integrated_gradients_matches_captum(method):
    captum_attr = importlib.import_module("captum.attr")
    model, x, t = tiny_cnn(seed=3), torch.rand(3, 3, 8, 8), torch.tensor([1, 4, 0])
    baseline = torch.rand(3, 8, 8) * 0.2                  # one baseline for every image
    steps = 20
    ref, delta = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=baseline.expand_as(x), target=t, n_steps=steps, method=method,
        return_convergence_delta=True)
    ig = ex.integrated_gradients(model, x, t, baseline=baseline, steps=steps, method=method,
                                 batch_size=7)            # 2 steps per pass, a ragged last pass
    # captum's trapezoid weights are 1/n (half at the ends): they sum to (n-1)/n, ours to 1.
    factor = (steps - 1) / steps if method == "riemann_trapezoid" else 1.0
    assert_maps_close(ig.attributions * factor, ref.detach())
    # captum's delta is sum(its attributions) - difference = factor (gap + difference) - difference:
    # for the trapezoid an extra -difference / n, from the weights that do not sum to 1.
    torch.testing.assert_close(delta.double(), factor * ig.gap - (1 - factor) * ig.score_difference,
                               rtol=1e-3, atol=1e-6)
    logits = model(torch.cat([x, baseline.expand_as(x)])).detach().double()
    torch.testing.assert_close(ig.score_difference,
                               logits[:3].gather(1, t[:, None])[:, 0] - logits[3:].gather(1, t[:, None])[:, 0])


def test_integrated_gradients_of_a_linear_model_is_exact():
    # z_c = w_c . x + b: the gradient is w_c everywhere, IG = (x - x') * w_c, and the
    # attributions sum to z_c(x) - z_c(x') for any number of steps.
    x = torch.randn(2, 1, 2, 2)
    ig = ex.integrated_gradients(linear_net(), x, [0, 2], steps=3)
    w = torch.tensor([[1.0, 0.0, -1.0, 2.0], [2.0, -1.0, 0.0, 0.0]]).reshape(2, 1, 2, 2)
    torch.testing.assert_close(ig.attributions, x * w)
    assert float(ig.gap.abs().max()) < 1e-5


def test_integrated_gradients_completeness_on_a_small_cnn():
    torch.manual_seed(0)
    model, x, t = tiny_cnn(seed=4), torch.rand(4, 3, 10, 10), [0, 1, 2, 3]
    rel = {}
    for steps in (4, 32, 128):
        ig = ex.integrated_gradients(model, x, t, steps=steps)
        rel[steps] = float((ig.gap.abs() / ig.score_difference.abs()).max())
    assert float(ig.score_difference.abs().min()) > 1e-3  # a difference worth explaining
    assert rel[128] < 1e-3 < rel[4] and rel[128] < rel[32] < rel[4]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(method="riemann"), ValueError, "method must be one of"),
    (dict(steps=1), ValueError, "riemann_trapezoid needs steps >= 2"),
    (dict(steps=0, method="gausslegendre"), ValueError, "steps must be an int >= 1"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(baseline=torch.zeros(3, 3)), ValueError, "does not broadcast"),
    (dict(baseline=float("nan")), ValueError, "baseline contains NaN"),
    (dict(target=3), IndexError, r"valid targets are 0\.\.2"),
    (dict(target=[0]), ValueError, "length 1 but the batch has 2"),
])
def test_integrated_gradients_input_checks(kwargs, error, match):
    kwargs = {"target": 0, **kwargs}
    with pytest.raises(error, match=match):
        ex.integrated_gradients(GapNet(), X_GAP, **kwargs)


# --------------------------------------------------------------------------- clean-up
# Hooks removed, flags restored, model and input untouched: the three methods are in
# test_explain.py's ALL_METHODS, which checks every explanation method the same way.


@pytest.mark.parametrize("call, error, match", [
    (lambda: ex.guided_backprop(GapNet(), X_GAP[0], 0), ValueError, "4-D batch"),
    (lambda: ex.guided_backprop(GapNet(), X_GAP.long(), 0), TypeError, "floating-point"),
    (lambda: ex.guided_backprop(GapNet(), X_GAP, 5), IndexError, r"valid targets are 0\.\.2"),
    (lambda: ex.guided_gradcam(GapNet(), X_GAP, [0, 1, 2], layer="features"), ValueError,
     "length 3 but the batch has 2"),
    (lambda: ex.guided_gradcam(GapNet(), X_GAP, 0, layer="featurez"), KeyError, "featurez"),
    (lambda: ex.integrated_gradients(GapNet(), torch.full((1, 1, 2, 2), float("inf")), 0),
     ValueError, "NaN or inf"),
])
def test_new_methods_check_their_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()

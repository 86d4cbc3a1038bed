"""Cross-checks of course_utils.explain against reference libraries: captum (saliency,
SmoothGrad), pytorch-grad-cam (Grad-CAM) and torchcam (CAM).

Each test runs a course method and the library's version of it on the same model and inputs,
after matching the library's conventions (said next to each test), so that the two must agree
to float32 rounding. The reference libraries are test-only (the ``test`` extra, in
requirements.lock): a missing one fails these tests, it never skips them.
"""
import gc
import importlib
import unittest.mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import explain as ex
from course_utils.hooks import count_hooks
from test_explain import tiny_cnn

pytestmark = pytest.mark.usefixtures("one_thread")


def assert_maps_close(actual, expected):
    """float32 agreement, with the absolute tolerance relative to the map's own scale.

    The raw maps of these tiny random models are ~1e-3, where torch's default atol (1e-5)
    would let a 1% error through. rtol 1e-5 and atol 1e-5 * max|map| leave ~100x room over
    the float32 rounding of the two sides summing in a different order (<= 2e-7 of the map's
    scale here) and catch any real difference in the method.
    """
    expected = torch.as_tensor(expected)  # the grad-cam maps are numpy arrays
    scale = float(expected.abs().max())
    assert scale > 0, "a map of zeros would make the comparison meaningless"
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * scale)


def strided_cnn(seed=0):
    """Like tiny_cnn, with a stride-2 convolution: its maps are smaller than the image."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))


def unit_range_images(n, c, h, w):
    """Random images whose values span exactly [0, 1] each (max - min == 1.0 in float32)."""
    flat = torch.rand(n, c * h * w)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    return ((flat - lo) / (hi - lo)).reshape(n, c, h, w)


# --------------------------------------------------------------------------- captum

def test_smoothgrad_matches_captum_noise_tunnel_with_the_same_noise():
    captum_attr = importlib.import_module("captum.attr")
    model, t = tiny_cnn(seed=2), torch.tensor([0, 3, 4])
    # Conventions matched:
    # - sigma: captum's stdev is absolute, ours is noise_level * (max - min) per image; the
    #   images span exactly [0, 1], so both are noise_level.
    # - noise draws: captum draws torch.normal(0, stdev) from the global generator, one
    #   (N, C, H, W) draw per sample with nt_samples_batch_size=1; ours draws float64 randn of
    #   the same shape from a private generator seeded with `seed` (float64: the same draws on
    #   every CPU kind). Seeding the global generator with the same seed and letting captum's
    #   torch.normal draw in float64 too gives the same draws, so the comparison is exact.
    # - magnitude: Saliency(abs=False) averages the signed gradients, as we do; the
    #   absolute value (or square) and the max over channels are then taken on captum's mean.
    x = unit_range_images(3, 3, 8, 8)
    normal = torch.normal

    def normal_in_float64(mean, std):  # captum's call: torch.normal(0, stdev_expanded)
        return (mean + std.double() * torch.randn(std.shape, dtype=torch.float64)).to(std.dtype)

    def captum_smoothgrad(nt_type, abs):
        torch.manual_seed(7)
        with unittest.mock.patch.object(torch, "normal", side_effect=normal_in_float64) as patched:
            ref = captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(
                x, nt_type=nt_type, nt_samples=10, nt_samples_batch_size=1, stdevs=0.2,
                target=t, abs=abs)
        assert patched.call_count == 10 and torch.normal is normal
        return ref

    ours = ex.smoothgrad(model, x, t, n_samples=10, noise_level=0.2, seed=7)
    assert_maps_close(ours, captum_smoothgrad("smoothgrad", abs=False).abs().amax(dim=1))
    # SmoothGrad-squared: captum's smoothgrad_sq averages the squares of the signed samples.
    assert_maps_close(ex.smoothgrad(model, x, t, n_samples=10, noise_level=0.2, seed=7,
                                    magnitude="square"),
                      captum_smoothgrad("smoothgrad_sq", abs=False).amax(dim=1))


def test_smoothgrad_abs_is_abs_of_mean_not_captums_default_mean_of_abs():
    """The sign convention: ours is |mean g|, NoiseTunnel(Saliency) with abs=True is mean |g|.

    SquareNet's gradient is 2 (x + noise): at the pixels where x = 0 it changes sign from one
    noisy copy to the next, so averaging first cancels and |mean g| < mean |g| there; where
    x is large against the noise every sample has the same sign and the two maps agree.
    Same noise on both sides, as in the test above.
    """
    captum_attr = importlib.import_module("captum.attr")
    from test_explain import SquareNet

    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 2:, :] = 1.0                      # rows 0-1: x = 0; rows 2-3: x = 1 (range 1)

    def normal_in_float64(mean, std):
        return (mean + std.double() * torch.randn(std.shape, dtype=torch.float64)).to(std.dtype)

    torch.manual_seed(3)
    with unittest.mock.patch.object(torch, "normal", side_effect=normal_in_float64):
        mean_of_abs = captum_attr.NoiseTunnel(captum_attr.Saliency(SquareNet())).attribute(
            x, nt_type="smoothgrad", nt_samples=8, nt_samples_batch_size=1, stdevs=0.1,
            target=0)                         # abs=True: captum's default
    mean_of_abs = mean_of_abs.amax(dim=1)
    abs_of_mean = ex.smoothgrad(SquareNet(), x, 0, n_samples=8, noise_level=0.1, seed=3)
    # Where the sign never changes (x = 1, noise 0.1 x 8 draws: |eps| < 10) they agree ...
    assert_maps_close(abs_of_mean[:, 2:], mean_of_abs[:, 2:])
    # ... where it does (x = 0), ours cancels and is smaller at every pixel, by a lot on average.
    assert bool((abs_of_mean[:, :2] < mean_of_abs[:, :2] - 1e-6).all())
    assert float(abs_of_mean[:, :2].mean()) < 0.6 * float(mean_of_abs[:, :2].mean())


def test_smoothgrad_without_noise_is_captum_saliency():
    captum_attr = importlib.import_module("captum.attr")
    model, x, t = tiny_cnn(seed=3), torch.rand(3, 3, 6, 6), torch.tensor([1, 0, 2])
    # Zero noise: every sample is the image itself, so SmoothGrad is plain saliency
    # (captum's abs=True, then our max over channels), whatever the noise draws.
    ref = captum_attr.Saliency(model).attribute(x.clone().requires_grad_(True), target=t, abs=True)
    assert_maps_close(ex.smoothgrad(model, x, t, n_samples=3, noise_level=0.0), ref.amax(dim=1))


def test_saliency_sum_logits_matches_captum_on_the_summed_logits():
    captum_attr = importlib.import_module("captum.attr")
    model, x = tiny_cnn(seed=4), torch.rand(2, 3, 6, 6)
    # The wrapper's one output per image is the sum of its logits (no target needed);
    # signed gradient (abs=False), then our square and sum over channels.
    ref = captum_attr.Saliency(lambda inp: model(inp).sum(dim=1)).attribute(
        x.clone().requires_grad_(True), abs=False)
    assert_maps_close(ex.saliency_sum_logits(model, x), ref.pow(2).sum(dim=1))


def test_saliency_loss_matches_captum_on_the_batch_mean_loss():
    captum_attr = importlib.import_module("captum.attr")
    model, x, t = tiny_cnn(seed=5), torch.rand(3, 3, 6, 6), torch.tensor([4, 0, 2])
    # The wrapper returns the batch-mean cross-entropy as its single output (captum then
    # differentiates exactly that scalar, 1/N factor included); abs=True like ours.
    ref = captum_attr.Saliency(lambda inp: F.cross_entropy(model(inp), t).reshape(1)).attribute(
        x.clone().requires_grad_(True), abs=True)
    assert_maps_close(ex.saliency_loss(model, x, t, normalize=False), ref)
    # normalize=True is the per-image min-max of that map over channels and pixels.
    flat = ref.reshape(3, -1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    assert_maps_close(ex.saliency_loss(model, x, t), ((flat - lo) / (hi - lo)).reshape(ref.shape))


# --------------------------------------------------------------------------- pytorch-grad-cam

def grad_cam_lib_postprocess(maps, size):
    """pytorch-grad-cam's post-processing of one layer's ReLU'd maps, applied to ours.

    BaseCAM.compute_cam_per_layer: scale_cam_image(cam, (W, H)) = (m - min) / (1e-7 + max)
    then cv2.resize (INTER_LINEAR, half-pixel centres = bilinear, align_corners=False);
    aggregate_multi_layers: max(., 0), mean over the one layer, scale_cam_image again.
    """
    def scale(m):
        m = m - m.amin(dim=(1, 2), keepdim=True)
        return m / (1e-7 + m.amax(dim=(1, 2), keepdim=True))
    return scale(ex.upsample_map(scale(maps), size).clamp_min(0))


@pytest.mark.parametrize("targets", [[1, 2, 4], None], ids=["explicit", "top-class"])
def test_grad_cam_matches_pytorch_grad_cam(targets):
    importlib.import_module("pytorch_grad_cam")
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = strided_cnn(), torch.rand(3, 3, 8, 12)  # maps 4 x 6, image 8 x 12
    layer = model[3]
    # The signed maps have negative parts, so the ReLU both sides apply is really tested.
    assert (ex.grad_cam(model, x, targets, layer="3", relu=False) < 0).any()
    lib_targets = None if targets is None else [ClassifierOutputTarget(c) for c in targets]
    with GradCAM(model, target_layers=[layer]) as lib:
        shown = lib(input_tensor=x, targets=lib_targets)
        # The raw map, before the library min-max normalises and resizes it: its own
        # get_cam_image on the activations and gradients it recorded, then its ReLU.
        acts = lib.activations_and_grads.activations[0].numpy()
        grads = lib.activations_and_grads.gradients[0].numpy()
        raw = np.maximum(lib.get_cam_image(x, layer, lib_targets, acts, grads), 0)
    # (Asserts stay outside the with block: BaseCAM.__exit__ swallows IndexError.)
    ours = ex.grad_cam(model, x, targets, layer="3")
    assert_maps_close(ours, raw)
    assert_maps_close(grad_cam_lib_postprocess(ours, x.shape[2:]), shown)


# --------------------------------------------------------------------------- torchcam

def torchcam_normalize(m):
    """torchcam's _CAM._normalize: (m - min) / (max(m - min) + 1e-8), per image."""
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return m / (m.amax(dim=(1, 2), keepdim=True) + 1e-8)


@pytest.mark.parametrize("arch", ["sequential", "resnet18"])
def test_cam_matches_torchcam(arch):
    methods = importlib.import_module("torchcam.methods")
    if arch == "sequential":
        model, feature_layer, fc_layer = tiny_cnn(seed=6), "3", "6"
        x = torch.rand(3, 3, 6, 6)
    else:
        torchvision = importlib.import_module("torchvision")
        torch.manual_seed(6)
        model, feature_layer, fc_layer = torchvision.models.resnet18(num_classes=5), "layer4", "fc"
        x = torch.rand(3, 3, 64, 96)  # layer4 maps 2 x 3
    model.eval()  # torchcam hooks whatever forward pass the caller runs; ours runs in eval
    t = [4, 0, 2]
    # torchcam's CAM takes row class_idx of the fc weight, no bias, and no ReLU (its _relu
    # is False for CAM, whatever its docstring formula says), like ours; normalized=False
    # gives the raw map, normalized=True its per-image min-max (eps 1e-8).
    with methods.CAM(model, feature_layer, fc_layer) as extractor:
        with torch.no_grad():
            model(x)
        raw = extractor(class_idx=t, normalized=False)[0].clone()
        shown = extractor(class_idx=t)[0]
    ours = ex.cam(model, x, t, feature_layer, fc_layer)
    assert (raw < 0).any()  # negative evidence present: a ReLU on either side would show
    assert_maps_close(ours, raw)
    assert_maps_close(torchcam_normalize(ours), shown)


# --------------------------------------------------------------------------- no leaks

def live_tensors():
    gc.collect()
    # type() rather than isinstance(): some torch objects warn when their __class__ is read.
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


def test_many_explanations_leak_nothing():
    model, x, t = tiny_cnn(), torch.rand(2, 3, 16, 16), [0, 3]
    model.train()
    model[0].requires_grad_(False)  # a mix of frozen and trainable parameters
    training = [m.training for m in model.modules()]
    requires = [p.requires_grad for p in model.parameters()]
    values = [p.detach().clone() for p in model.parameters()]

    def explain_all():
        ex.grad_cam(model, x, t, layer="2")
        ex.cam(model, x, t, "3", "6")
        ex.saliency_class_score(model, x, t)

    explain_all()  # warm-up: lazy initialisations happen once, not per call
    tensors_before = live_tensors()
    for _ in range(100):
        explain_all()
    # A method that kept a tensor per call (an activation, a gradient, a graph) anywhere
    # reachable from Python would leave >= 100 more; allow a handful for torch's own caches.
    assert live_tensors() - tensors_before <= 5
    assert count_hooks(model) == 0
    assert [m.training for m in model.modules()] == training
    assert [p.requires_grad for p in model.parameters()] == requires
    for p, v in zip(model.parameters(), values, strict=True):
        assert p.grad is None
        torch.testing.assert_close(p.detach(), v, rtol=0, atol=0)

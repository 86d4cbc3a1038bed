"""Bad inputs that used to give a silently wrong result or torch's raw message now give a clear
error (what was wrong, what to do), and valid inputs that used to be refused are accepted."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils import checkpoints, data, explain, models
from course_utils.config import CourseDataError
from course_utils.hooks import count_hooks


def tiny_cnn(in_channels=3, classes=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, classes)).eval()


class Conv2RegisteredFirst(nn.Module):
    """Registers conv2 (16 -> 8) before conv1 (3 -> 16), but applies conv1 first."""

    def __init__(self):
        super().__init__()
        self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, x):
        return self.head(self.conv2(self.conv1(x).relu()))


# --------------------------------------------------------------------------- LIME

def test_lime_refuses_a_float_image_in_0_255():
    image = np.random.default_rng(0).random((12, 12, 3)) * 255
    with pytest.raises(ValueError, match=r"\[0, 1\].*Divide a 0\.\.255 image by 255"):
        explain.explain_lime(tiny_cnn(), image, target=1, num_samples=10, n_segments=4)


def test_lime_refuses_a_channels_first_image():
    image = np.random.default_rng(0).random((3, 12, 12))
    with pytest.raises(ValueError, match=r"channels-first.*transpose\(1, 2, 0\)"):
        explain.explain_lime(tiny_cnn(), image, target=1, num_samples=10, n_segments=4)


def test_lime_refuses_zero_samples():
    image = np.random.default_rng(0).random((12, 12, 3))
    with pytest.raises(ValueError, match=r"num_samples must be an int >= 2 .*got 0"):
        explain.explain_lime(tiny_cnn(), image, target=1, num_samples=0, n_segments=4)


# --------------------------------------------------------------------------- data

def test_getbatch_refuses_a_boolean_mask():
    ds = data.load_dataset("mnist", "test", tier="offline")
    mask = torch.zeros(len(ds), dtype=torch.bool)
    mask[[3, 5]] = True
    for bad in (mask, mask.numpy(), [True, False, True]):
        with pytest.raises(TypeError, match="not a .*mask|not a boolean mask"):
            ds.getbatch(bad)
    images, _ = ds.getbatch(torch.nonzero(mask).flatten())  # the fix the message gives
    assert images.shape[0] == 2
    with pytest.raises(TypeError, match=r"getbatch\(\[7\]\)"):
        ds.getbatch(7)
    with pytest.raises(TypeError, match="boolean"):
        ds[True]


@pytest.mark.parametrize("fn", [data.imagenet_normalize, data.denormalize])
def test_normalisation_refuses_uint8(fn):
    x = torch.full((3, 4, 4), 200, dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"x\.float\(\) / 255"):
        fn(x)
    fn(x.float() / 255)  # fine


# --------------------------------------------------------------------------- channels

def test_channels_last_image_into_a_model_without_convolutions():
    model = models.MNIST_DNN().eval()
    x = torch.rand(2, 28, 28, 1)  # flattens to 784 values too: silently wrong before
    with pytest.raises(ValueError, match=r"channels-last.*permute\(0, 3, 1, 2\)"):
        explain.saliency_class_score(model, x, 3)
    explain.saliency_class_score(model, x.permute(0, 3, 1, 2), 3)  # fine


def test_channels_last_image_into_a_cnn():
    model = tiny_cnn()
    with pytest.raises(ValueError, match=r"'0' expects 3 input channels.*permute"):
        explain.saliency_class_score(model, torch.rand(2, 8, 8, 3), 1)
    assert count_hooks(model) == 0


def test_the_channel_check_follows_the_forward_order_not_the_registration_order():
    model = Conv2RegisteredFirst().eval()
    out = explain.saliency_class_score(model, torch.rand(2, 3, 8, 8), 1)  # refused before
    assert out.shape == (2, 8, 8)
    with pytest.raises(ValueError, match=r"first convolution 'conv1' expects 3 input channels, "
                                         r"but x has 5"):
        explain.saliency_class_score(model, torch.rand(2, 5, 8, 8), 1)
    assert count_hooks(model) == 0 and not model.training


# --------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("noise_level", [float("nan"), float("inf"), -0.1])
def test_smoothgrad_refuses_a_nan_inf_or_negative_noise_level(noise_level):
    with pytest.raises(ValueError, match="noise_level must be a finite number >= 0"):
        explain.smoothgrad(tiny_cnn(), torch.rand(1, 3, 6, 6), 0, noise_level=noise_level)


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True])
def test_smoothgrad_refuses_a_bad_sample_count(n_samples):
    with pytest.raises(ValueError, match="n_samples must be an int >= 1"):
        explain.smoothgrad(tiny_cnn(), torch.rand(1, 3, 6, 6), 0, n_samples=n_samples)


def test_negative_steps_are_refused():
    model = tiny_cnn()
    with pytest.raises(ValueError, match="steps must be"):
        explain.filter_visualization(model, torch.rand(1, 3, 6, 6), "0", 0, steps=-1)
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        explain.class_prototypes(models.MNIST_DNN(), torch.rand(10, 784), steps=-5)


@pytest.mark.parametrize("target", [None, "3", b"3", 1.0, [0.5]])
def test_targets_that_are_not_class_indices(target):
    with pytest.raises(TypeError, match="target must"):
        explain.saliency_class_score(tiny_cnn(), torch.rand(1, 3, 6, 6), target)


def test_a_none_target_names_the_fix():
    with pytest.raises(TypeError, match=r"got None; valid targets are 0\.\.3.*target=3"):
        explain.smoothgrad(tiny_cnn(), torch.rand(1, 3, 6, 6), None, n_samples=1)


# --------------------------------------------------------------------------- occlusion

def test_occlusion_makes_the_patch_masks_a_chunk_at_a_time(monkeypatch):
    """224 x 224, window 8, stride 1: 47,089 patches, 8.8 GiB of masks if made all at once."""
    calls, made = [], []
    patch_masks = explain._patch_masks
    monkeypatch.setattr(explain, "_patch_masks",
                        lambda corners, *args: made.append(len(corners)) or patch_masks(corners, *args))

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return x.mean(dim=(2, 3))[:, :2] * torch.tensor([1.0, -1.0])

    x = torch.rand(1, 3, 64, 64)
    out = explain.occlusion(Counting(), x, 0, window=8, stride=1, batch_size=64)
    assert out.shape == (1, 64, 64) and max(calls) == 64 and max(made) == 64
    # Same result as the written-out definition for a linear score: each pixel's mean drop.
    patches = (64 - 8 + 1) ** 2
    assert len(calls) == 1 + -(-patches // 64)
    assert torch.isfinite(out).all() and out.min() > 0


def test_occlusion_is_the_same_whatever_the_chunk_size():
    model = tiny_cnn()
    x = torch.rand(2, 3, 12, 12)
    a = explain.occlusion(model, x, [0, 2], window=4, stride=4, batch_size=256)
    b = explain.occlusion(model, x, [0, 2], window=4, stride=4, batch_size=3)
    assert torch.equal(a, b)
    c = explain.occlusion(model, x, [0, 2], window=4, stride=2, batch_size=256)
    d = explain.occlusion(model, x, [0, 2], window=4, stride=2, batch_size=5)
    torch.testing.assert_close(c, d)


# --------------------------------------------------------------------------- normalize_map

def test_normalize_map_scales_a_tiny_map_instead_of_zeroing_it():
    m = torch.tensor([[[1e-13, 3e-13], [2e-13, 5e-13]]], dtype=torch.float64)
    out = explain.normalize_map(m)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.5], [0.25, 1.0]]], dtype=torch.float64))


def test_normalize_map_still_calls_constant_maps_constant():
    m = torch.zeros(3, 4, 4)
    m[1] = 7.0
    m[2, 0, 0] = 1e-6  # real contrast
    with pytest.warns(UserWarning, match=r"sample\(s\) \[0, 1\] is constant") as caught:
        out = explain.normalize_map(m)
    assert "largest magnitude" in str(caught[0].message)  # relative: 7.0 is not all zero
    assert torch.equal(out[0], torch.zeros(4, 4)) and torch.equal(out[1], torch.zeros(4, 4))
    assert out[2].max() == 1.0
    with pytest.warns(UserWarning, match=r"\(max - min <= 1e-12\); returning zeros"):
        explain.normalize_map(torch.zeros(1, 2, 2))  # the message lesson 06 prints
    with pytest.raises(ValueError, match="eps must be a finite number"):
        explain.normalize_map(m, eps=float("nan"))


# --------------------------------------------------------------------------- checkpoints

@pytest.fixture
def ckpt_dir(tmp_path):
    torch.manual_seed(0)
    model = models.MNIST_DNN()
    sha = checkpoints.save_checkpoint(model, tmp_path / "m.pt")
    checkpoints.write_manifest({"m": {"file": "m.pt", "sha256": sha, "architecture": "MNIST_CNN",
                                      "command": "course train m"}}, tmp_path)
    return tmp_path


def test_a_checkpoint_of_another_architecture(ckpt_dir):
    with pytest.raises(CourseDataError, match=r"does not hold the weights of MNIST_CNN.*"
                                              r"course train m"):
        checkpoints.load_checkpoint("m", folder=ckpt_dir)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\xff"])
def test_a_manifest_that_is_not_a_json_object(tmp_path, text):
    (tmp_path / checkpoints.MANIFEST).write_text(text, encoding="latin-1")
    with pytest.raises(CourseDataError, match="manifest .*(not valid JSON|JSON object).*git checkout"):
        checkpoints.read_manifest(tmp_path)


def test_the_missing_manifest_names_the_real_command(tmp_path):
    with pytest.raises(CourseDataError, match="`course train all`") as err:
        checkpoints.read_manifest(tmp_path)
    assert "--all" not in str(err.value)


# --------------------------------------------------------------------------- the probe of issue 15
# Each bad input below used to return a silently wrong result or raise torch's, numpy's or
# argparse's raw message; now the error says what was wrong and what to do.

X8 = torch.rand(2, 3, 8, 8)
MAPS = torch.rand(2, 8, 8)
MASKS = torch.zeros(2, 8, 8, dtype=torch.bool)
MASKS[:, 2:5, 2:5] = True


@pytest.mark.parametrize("call, error, match", [
    # the explanation methods' shared checks
    (lambda: explain.saliency_class_score(lambda x: x, X8, 0), TypeError, "must be a torch.nn.Module"),
    (lambda: explain.grad_cam(tiny_cnn(), X8.to("meta"), 0, layer="0"), ValueError, "meta device"),
    (lambda: explain.saliency_class_score(tiny_cnn(), X8.double(), 0), RuntimeError,
     r"x is torch.float64 but .* weights are torch.float32: convert x"),
    (lambda: explain.saliency_loss(tiny_cnn(), X8, 0, normalize="no"), TypeError, "True or False"),
    (lambda: explain.predict(nn.Sequential(nn.Flatten(), nn.Linear(192, 3)), X8[0]), RuntimeError,
     r"x.unsqueeze\(0\)"),
    (lambda: explain.grad_cam(tiny_cnn(), X8, 0, layer=None), TypeError, "dotted name"),
    (lambda: explain.grad_cam(tiny_cnn(), X8, 0, layer=0), TypeError, "write '0'"),
    (lambda: explain.occlusion(tiny_cnn(), X8, 0, window=4, stride=4, baseline=torch.zeros(5)),
     ValueError, r"broadcastable to one image \(3, 8, 8\), got shape \(5,\)"),
    # maps
    (lambda: explain.upsample_map(MAPS, 0), ValueError, "positive int"),
    (lambda: explain.upsample_map(MAPS, 2.5), ValueError, "positive int"),
    (lambda: explain.upsample_map(MAPS, 16, mode="bogus"), ValueError, "mode must be one of"),
    (lambda: explain.normalize_map(torch.zeros(0, 4, 4)), ValueError, "empty"),
    # optimisation settings
    (lambda: explain.filter_visualization(tiny_cnn(), X8[:1], "0", 0, steps=1, lr=float("nan")),
     ValueError, "lr must be a finite number"),
    (lambda: explain.filter_visualization(tiny_cnn(), X8[:1], "0", 0, steps=1, lr=0.0),
     ValueError, "lr must be > 0"),
    (lambda: explain.class_prototypes(models.MNIST_DNN(), torch.rand(10, 784), steps=1,
                                      lam=float("nan")), ValueError, "lam must be a finite"),
    # LIME's pieces
    (lambda: explain.slic_segmenter(0), ValueError, "n_segments must be an int >= 1"),
    (lambda: explain.slic_segmenter(10, compactness=-1), ValueError, "compactness"),
    (lambda: explain.slic_segmenter(10, sigma=float("nan")), ValueError, "sigma"),
    (lambda: explain.lime_classifier_fn(tiny_cnn())(np.full((1, 8, 8, 3), 200.0)), ValueError,
     r"\[0, 1\].*divide by 255"),
    (lambda: explain.lime_classifier_fn(tiny_cnn(), device="bogus"), ValueError, "not a device"),
    (lambda: explain.smoothgrad(tiny_cnn(), X8, 0, n_samples=2, seed="a"), TypeError, "seed must be an int"),
    # metrics
    (lambda: __import__("course_utils.metrics").metrics.pointing_game(MAPS, MASKS, float("nan")),
     ValueError, "finite number >= 0"),
    (lambda: __import__("course_utils.metrics").metrics.deletion_insertion(
        tiny_cnn(), X8, 0, MAPS, steps=2, baseline=float("nan")), ValueError, "baseline must be finite"),
    # hooks and layers
    (lambda: __import__("course_utils.hooks").hooks.eval_mode("model").__enter__(), TypeError, "nn.Module"),
    (lambda: __import__("course_utils.hooks").hooks.frozen(None).__enter__(), TypeError, "nn.Module"),
    (lambda: count_hooks(42), TypeError, "nn.Module"),
    (lambda: __import__("course_utils.hooks").hooks.capture(tiny_cnn(), 3).__enter__(), TypeError,
     "dotted name"),
    # models
    (lambda: models.resnet18(num_classes=0), ValueError, "num_classes must be an int >= 1"),
    (lambda: models.resnet18(width_divisor=0), ValueError, "width_divisor must be an int >= 1"),
    (lambda: models.resnet18(width_divisor=128), ValueError, "must divide 64"),
    (lambda: models.vgg19(num_classes=-1), ValueError, "num_classes"),
    (lambda: models.MNIST_DNN()(torch.rand(2, 3, 32, 32)), ValueError, "784 values each"),
    # data
    (lambda: data.imagenet_normalize(torch.rand(2, 3, 4, 4) * 255), ValueError, "divide .* by 255"),
    (lambda: data.imagenet_normalize(torch.rand(2, 3, 4, 4), std=(0.0, 1.0, 1.0)), ValueError,
     "std must hold 3 finite numbers > 0"),
    (lambda: data.TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 5]),
                                     ["a", "b"], "offline", "t"), ValueError, r"class indices 0\.\.1"),
    (lambda: data.TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0.7, 1.0]),
                                     ["a", "b"], "offline", "t"), TypeError, "integer class indices"),
    (lambda: __import__("course_utils.lessons").lessons.start("01", device="bogus", verbose=False),
     ValueError, "not a device"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_inputs_get_a_clear_error(call, error, match, one_thread):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("seed, threads, match", [("a", 2, "seed"), (-1, 2, "seed"), (1.5, 2, "seed"),
                                                  (0, 0, "threads")])
def test_setup_refuses_a_bad_seed_or_thread_count(seed, threads, match):
    from course_utils import config

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=f"{match} must be an int"):
        config.setup(seed=seed, threads=threads)
    assert torch.get_num_threads() == before  # refused before anything was changed


@pytest.mark.parametrize("value, match", [("bogus", "not a device"),
                                          pytest.param("cuda", "no CUDA GPU", marks=pytest.mark.skipif(
                                              torch.cuda.is_available(), reason="a GPU is here"))])
def test_course_device_that_cannot_be_used(monkeypatch, value, match):
    from course_utils import config

    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(ValueError, match=match):
        config.get_device()


@pytest.mark.parametrize("call, match", [
    (lambda p: checkpoints.save_checkpoint(models.MNIST_DNN(), p, dtype=torch.int8), "floating-point"),
    (lambda p: checkpoints.save_checkpoint({"w": 1}, p), "nn.Module"),
    (lambda p: checkpoints.save_checkpoint(nn.Linear(2, 2).requires_grad_(False).apply(
        lambda m: m.weight.fill_(1e6)), p), "beyond torch.float16's range"),
    (lambda p: checkpoints.save_checkpoint(nn.Linear(2, 2).requires_grad_(False).apply(
        lambda m: m.weight.fill_(float("nan"))), p), "NaN or inf"),
])
def test_save_checkpoint_refuses_what_it_would_store_wrongly(tmp_path, call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call(tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("entry, match", [(3, "not an object"), ({"file": "m.pt"}, "missing architecture, sha256")])
def test_a_manifest_entry_without_its_fields(tmp_path, entry, match):
    checkpoints.write_manifest({"m": entry}, tmp_path)
    with pytest.raises(CourseDataError, match=f"{match}.*course train m"):
        checkpoints.load_checkpoint("m", folder=tmp_path)


@pytest.mark.parametrize("content, error, match", [(None, FileNotFoundError, "no checkpoint file"),
                                                   (b"garbage", ValueError, "not a readable checkpoint")])
def test_read_weights_of_a_missing_or_damaged_file(tmp_path, content, error, match):
    if content is not None:
        (tmp_path / "w.pt").write_bytes(content)
    with pytest.raises(error, match=match):
        checkpoints.read_weights(tmp_path / "w.pt")


@pytest.mark.parametrize("call, match", [
    (lambda plot: plot.show_heatmap(torch.zeros(0, 0)), "empty"),
    (lambda plot: plot.image_grid(torch.rand(4, 3, 4, 4), nrow=0), "nrow"),
    (lambda plot: plot.image_grid([torch.rand(3, 4, 4), torch.rand(3, 5, 5)]), "differ in size"),
    (lambda plot: plot.figure_data(), "give the figure's arrays"),
    (lambda plot: plot.overlay_heatmap(torch.rand(3, 8, 8), torch.rand(8, 8), heat_weight=float("nan")),
     "weights must be finite"),
])
def test_plot_bad_inputs(call, match):
    import matplotlib.pyplot as plt

    from course_utils import plot

    try:
        with pytest.raises(ValueError, match=match):
            call(plot)
    finally:
        plt.close("all")


@pytest.mark.parametrize("argv, match", [
    (["train", "--all"], "course train all"), (["train"], "course train all"),
    (["train", "mnist_dnn", "--epochs", "0"], "--epochs: must be greater than 0"),
    (["train", "mnist_dnn", "--epochs", "-1"], "--epochs: must be greater than 0"),
    (["grade", "autograde", "x", "--timeout", "0"], "--timeout: must be greater than 0"),
    (["grade", "autograde", "x", "--memory-gib", "-1"], "--memory-gib: must be greater than 0"),
    (["bench", "--threads", "x"], "--threads: expected an int"),
])
def test_cli_arguments_that_used_to_mislead_or_train_the_wrong_thing(argv, match, capsys):
    from course_tools import cli

    try:
        rc = cli.main(argv)
    except SystemExit as stop:
        rc = stop.code
    assert rc == 2
    assert match in capsys.readouterr().err

"""Tests for course_utils.summary (lesson 01): exact totals, the pandas seam, errors."""
import pandas as pd
import pytest
import torch
from torch import nn
from torchvision.models import resnet18, squeezenet1_1

from course_utils.summary import (compare_models, model_totals, torchinfo_summary,
                                  torchinfo_totals, torchsummaryx_compat,
                                  torchsummaryx_summary)

RESNET18_PARAMS = 11_689_512  # the source's "11689.512 K"
RESNET18_MULT_ADDS = 1_814_078_144  # the source's "1814.078144 M"


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return resnet18(weights=None)


def tiny_model():
    """Conv2d(1, 2, 3) on a 5x5 image -> 2x3x3 = 18 features -> Linear(18, 4)."""
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 4))


def no_hooks(model):
    return all(not m._forward_hooks for m in model.modules())


def test_resnet18_torchsummaryx_route_matches_the_source(resnet, capsys):
    df = torchsummaryx_summary(resnet, torch.zeros((1, 3, 224, 224)))
    assert df.attrs["total_params"] == RESNET18_PARAMS
    assert df.attrs["mult_adds"] == RESNET18_MULT_ADDS
    assert df["Params"].sum() == RESNET18_PARAMS
    assert df["Mult-Adds"].sum() == RESNET18_MULT_ADDS
    # Rows as the source prints them, with its per-layer numbers.
    assert list(df.columns) == ["Kernel Shape", "Output Shape", "Params", "Mult-Adds"]
    assert len(df) == 60
    assert list(df.index[:5]) == ["0_conv1", "1_bn1", "2_relu", "3_maxpool",
                                  "4_layer1.0.Conv2d_conv1"]
    assert df.loc["0_conv1", "Kernel Shape"] == [3, 64, 7, 7]
    assert df.loc["0_conv1", "Mult-Adds"] == 118_013_952
    assert df.loc["21_layer2.0.downsample.Conv2d_0", "Params"] == 8_192
    assert df.loc["59_fc", "Params"] == 513_000
    assert df.loc["59_fc", "Mult-Adds"] == 512_000
    printed = capsys.readouterr().out
    for text in ("0_conv1", "4_layer1.0.Conv2d_conv1", "59_fc", "Total params", "11.689512M",
                 "1.814078144G"):
        assert text in printed
    assert no_hooks(resnet)


def test_resnet18_torchinfo_route(resnet):
    stats = torchinfo_summary(resnet, (1, 3, 224, 224))
    totals = torchinfo_totals(stats)
    assert totals["params"] == RESNET18_PARAMS
    assert totals["mult_adds"] == RESNET18_MULT_ADDS
    # torchinfo's own total adds one term per bias element: BatchNorm shifts and fc's bias.
    biases = sum(m.bias.numel() for m in resnet.modules()
                 if isinstance(m, (nn.BatchNorm2d, nn.Linear)))
    assert biases == 5_800
    assert totals["mult_adds_torchinfo"] == RESNET18_MULT_ADDS + biases
    assert "Mult-Adds" in str(stats)
    assert no_hooks(resnet)


def test_meta_device_gives_the_same_totals_as_cpu(resnet):
    with torch.device("meta"):
        meta_model = resnet18(weights=None)
    meta = model_totals(meta_model, torch.zeros((1, 3, 224, 224), device="meta"))
    assert meta["params"] == RESNET18_PARAMS
    assert meta["mult_adds"] == RESNET18_MULT_ADDS
    assert meta == model_totals(resnet, torch.zeros((1, 3, 224, 224)))


def test_tiny_model_by_hand(capsys):
    model = tiny_model()
    df = torchsummaryx_summary(model, torch.zeros((1, 1, 5, 5)), print_table=False)
    assert capsys.readouterr().out == ""
    # Parameters: conv 2*1*3*3 + 2 = 20, linear 18*4 + 4 = 76.
    assert df.attrs["total_params"] == 96
    # Mult-adds, weights only: conv 18 weights x 3*3 outputs = 162, linear 72.
    assert df.attrs["mult_adds"] == 162 + 72
    assert list(df.index) == ["0_0", "1_1", "2_2"]
    assert df.loc["0_0", "Kernel Shape"] == [1, 2, 3, 3]  # torchsummaryX puts C_in first
    assert df.loc["0_0", "Output Shape"] == [1, 2, 3, 3]
    assert pd.isna(df.loc["1_1", "Params"])
    totals = torchinfo_totals(torchinfo_summary(model, (1, 1, 5, 5)))
    # torchinfo adds the biases: conv (18 + 2) x 9 = 180, linear 72 + 4 = 76.
    assert totals == dict(params=96, mult_adds=234, mult_adds_torchinfo=256)


def test_frozen_parameters_are_counted_as_non_trainable():
    model = tiny_model()
    model[0].requires_grad_(False)
    df = torchsummaryx_summary(model, torch.zeros((1, 1, 5, 5)), print_table=False)
    assert (df.attrs["total_params"], df.attrs["trainable_params"],
            df.attrs["non_trainable_params"]) == (96, 76, 20)
    assert model[0].weight.requires_grad is False and model[2].weight.requires_grad


def test_seam_restores_dataframe_sum_and_touches_no_other_call():
    original = pd.DataFrame.sum
    with torchsummaryx_compat():
        assert pd.DataFrame.sum is not original
        # Calls from anywhere but torchsummaryX keep pandas' own behaviour.
        with pytest.raises(TypeError):
            pd.DataFrame({"a": [1, "-"]}, dtype=object).sum()
        assert pd.DataFrame({"a": [1, 2]}).sum()["a"] == 3
    assert pd.DataFrame.sum is original
    with pytest.raises(KeyError), torchsummaryx_compat():
        raise KeyError("boom")
    assert pd.DataFrame.sum is original


def test_wrong_input_shape_gives_a_clear_error_and_restores_everything():
    model = tiny_model()
    model.train()
    model[1].eval()  # a mixed mode must come back as it was
    original = pd.DataFrame.sum
    with pytest.raises(ValueError, match=r"Sequential could not run on an input of shape "
                                         r"\(1, 3, 5, 5\).*channel"):
        torchsummaryx_summary(model, torch.zeros((1, 3, 5, 5)), print_table=False)
    assert pd.DataFrame.sum is original
    assert no_hooks(model)
    assert [m.training for m in model.modules()] == [True, True, False, True]
    with pytest.raises(ValueError, match=r"input of shape \(1, 1, 6, 6\)"):
        torchinfo_summary(model, (1, 1, 6, 6))
    assert no_hooks(model)
    with pytest.raises(TypeError, match=r"not a shape"):
        torchsummaryx_summary(model, (1, 1, 5, 5))


def test_compare_models():
    builders = {"tiny": tiny_model,
                "ResNet-18": lambda: resnet18(weights=None),
                "SqueezeNet 1.1": lambda: squeezenet1_1(weights=None)}
    tiny = compare_models({"tiny": tiny_model}, input_size=(1, 1, 5, 5))
    assert tiny.loc["tiny", "params"] == 96 and tiny.loc["tiny", "mult_adds"] == 234
    df = compare_models({k: v for k, v in builders.items() if k != "tiny"})
    assert list(df.index) == ["ResNet-18", "SqueezeNet 1.1"]
    assert list(df.columns) == ["params", "mult_adds", "depth", "classifier",
                                "classifier_params", "classifier_share", "linear_share"]
    r18 = df.loc["ResNet-18"]
    assert (r18["params"], r18["mult_adds"]) == (RESNET18_PARAMS, RESNET18_MULT_ADDS)
    assert r18["depth"] == 21  # 17 convolutions + 3 shortcut convolutions + fc
    assert (r18["classifier"], r18["classifier_params"]) == ("fc", 513_000)
    assert r18["classifier_share"] == pytest.approx(513_000 / RESNET18_PARAMS)
    sq = df.loc["SqueezeNet 1.1"]
    # SqueezeNet's classifier is a 1x1 convolution (512 -> 1000): no fully connected layer.
    assert sq["params"] == 1_235_496 and sq["classifier_params"] == 513_000
    assert sq["linear_share"] == 0 and sq["depth"] == 26

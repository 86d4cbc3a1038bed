"""Tests of course_utils.hooks: everything it changes is given back, also on exceptions."""
import pytest
import torch
from torch import nn

from course_utils.hooks import capture, count_hooks, eval_mode, frozen


# Tiny tensors: one thread (conftest.one_thread) avoids OpenMP spin-waiting on 2 cores.
pytestmark = pytest.mark.usefixtures("one_thread")


class Net(nn.Module):
    """conv -> BN -> ReLU -> GAP -> fc, small enough to run 200 times in a blink."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 3))

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def mixed_model():
    """A model whose modules disagree about training mode and requires_grad."""
    torch.manual_seed(0)
    model = Net()
    model.train()
    model.features[1].eval()          # a frozen BatchNorm, say
    model.features[0].weight.requires_grad_(False)
    return model


def flags(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()])


def test_eval_mode_restores_each_flag_also_on_error():
    model = mixed_model()
    before = flags(model)
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert flags(model) == before
    with pytest.raises(ZeroDivisionError):
        with eval_mode(model):
            1 / 0
    assert flags(model) == before


def test_frozen_restores_each_flag_also_on_error():
    model = mixed_model()
    before = flags(model)
    with frozen(model):
        assert not any(p.requires_grad for p in model.parameters())
    assert flags(model) == before
    with pytest.raises(KeyError):
        with frozen(model):
            raise KeyError("inside")
    assert flags(model) == before


def test_capture_activations_and_gradients_by_hand():
    # y = 3 * x through a Linear without bias; output = sum(2 * y). So d out / d y = 2.
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(3 * torch.eye(2))
        model[1].weight.fill_(2.0)
    x = torch.tensor([[1.0, -1.0]])
    with capture(model, "0", gradients=True) as cap:
        out = model(x)
        assert count_hooks(model) == 1
        (g,) = torch.autograd.grad(out.sum(), model[0].weight)
    assert count_hooks(model) == 0
    torch.testing.assert_close(cap.activations["0"], torch.tensor([[3.0, -3.0]]))
    torch.testing.assert_close(cap.gradients["0"], torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(g, torch.tensor([[2.0, -2.0], [2.0, -2.0]]))
    assert cap.calls == {"0": 1}
    # After the block the stored tensors no longer hold the autograd graph.
    assert cap.activations["0"].grad_fn is None


def test_capture_accepts_modules_and_lists():
    model = Net()
    with capture(model, [model.features[0], "features.2"]) as cap:
        model.eval()(torch.ones(1, 1, 3, 3))
    assert cap.names == ["features.0", "features.2"]
    assert cap.activations["features.0"].shape == (1, 2, 3, 3)


def test_capture_unknown_layer_names_close_matches():
    model = Net()
    with pytest.raises(KeyError, match="no layer named 'feature'.*features"):
        with capture(model, "feature"):
            pass
    assert count_hooks(model) == 0


def test_capture_last_call_of_a_shared_layer():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(2.0)
    model = nn.Sequential(lin, lin)  # the same module runs twice
    x = torch.tensor([[1.0]], requires_grad=True)
    with capture(model, "0", gradients=True) as cap:
        model(x).sum().backward()
    assert cap.calls["0"] == 2
    assert cap.activations["0"].item() == 4.0     # second call's output
    assert cap.gradients["0"].item() == 1.0       # d out / d (second output)


def test_200_captures_half_raising_leave_nothing_behind():
    model = mixed_model()
    before = flags(model)
    x = torch.randn(2, 1, 4, 4)
    for i in range(200):
        if i % 2:
            with pytest.raises(RuntimeError, match="forced"):
                with eval_mode(model), frozen(model), capture(model, ["features", "head.1"],
                                                               gradients=True) as cap:
                    model(x.requires_grad_(True)).sum().backward()
                    raise RuntimeError("forced")
        else:
            with eval_mode(model), frozen(model), capture(model, "features", gradients=True) as cap:
                model(x.requires_grad_(True)).sum().backward()
            assert cap.gradients["features"].shape == (2, 2, 4, 4)
        assert count_hooks(model) == 0
    assert flags(model) == before
    assert all(p.grad is None for p in model.parameters())


def test_count_hooks_counts_every_kind():
    model = Net()
    handles = [model.register_forward_hook(lambda *a: None),
               model.features.register_forward_pre_hook(lambda *a: None),
               model.head.register_full_backward_hook(lambda *a: None),
               model.head.register_full_backward_pre_hook(lambda *a: None)]
    assert count_hooks(model) == 4
    for h in handles:
        h.remove()
    assert count_hooks(model) == 0


import pytest
import torch
from torch.utils.data import TensorDataset

from course_utils import models
from course_utils.checkpoints import read_manifest, read_weights
from course_utils.config import checkpoint_dir
from course_utils.plot import figure_data
from course_tools.train import RECIPES, evaluate, fit, random_shift


def _toy():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(128, 784, generator=g)
    y = (x[:, 0] > 0.5).long()  # separable by one pixel: a linear model learns it at once
    return TensorDataset(x, y)


def test_fit_is_reproducible_and_learns(one_thread):
    # one thread: 4 steps of 32 rows per epoch; two threads spin-wait more than they compute
    data = _toy()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = models.MNIST_DNN()
        history = fit(model, data, epochs=20, lr=1e-3, batch_size=32, progress=False)
        runs.append((history, model.dense3.weight.clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert runs[0][0][-1] < runs[0][0][0]
    assert evaluate(model, data) > 0.95
    assert not model.training


def test_random_shift_moves_content_within_bounds():
    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 3, 3] = 1
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    for img in shifted:
        (r, c), = torch.nonzero(img[0]).tolist()
        assert abs(r - 3) <= 2 and abs(c - 3) <= 2
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_every_recipe_builds_the_committed_model():
    """Each recipe builds exactly the architecture its committed checkpoint holds (every name
    and shape, strict loading) and maps an input of its data to one logit per class."""
    manifest = read_manifest()
    assert set(RECIPES) == set(manifest)
    sizes = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "food11": (3, 128, 128)}
    for name, recipe in RECIPES.items():
        model = models.build(recipe.architecture, **recipe.arch_kwargs).eval()
        entry = manifest[name]
        assert (entry["architecture"], entry["arch_kwargs"]) == (recipe.architecture, recipe.arch_kwargs)
        model.load_state_dict(read_weights(checkpoint_dir() / entry["file"]))  # strict
        with torch.no_grad():
            out = model(torch.zeros(2, *sizes[recipe.dataset]))
        assert out.shape == (2, len(entry["classes"])), name


def test_figure_data_rounds_and_rejects_empty():
    line = figure_data(m=torch.tensor([[0.123456, 1e-9], [2.0, 3.0]]))
    assert line == "figure data | m: shape (2, 2), mean 1.28, std 1.27, min 0, max 3"
    with pytest.raises(ValueError, match="empty"):
        figure_data(m=torch.zeros(0))

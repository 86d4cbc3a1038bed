"""course_utils.data.costs is data only, and every figure says where it comes from."""
import ast
import inspect

from course_utils.data import costs


def test_costs_is_data_only_with_a_source_for_every_figure():
    tree = ast.parse(inspect.getsource(costs))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef,
                                                           ast.Import, ast.ImportFrom))]
    for name, entry in costs.DOWNLOADS.items():
        assert entry["source"] and entry["what"], name
        if entry["download_mib"] is not None:
            assert abs(entry["download_mb"] - entry["download_mib"] * 1.048576) < 0.06, name
    for name, entry in costs.TRAINING.items():
        assert entry["batches_timed"] >= 2 and entry["threads"] in (1, 2) and entry["load_average"]
        assert entry["cpu_min_per_epoch"] > 0 and entry["data"], name
        if entry["epochs"]:
            total = entry["epochs"] * entry["cpu_min_per_epoch"] + entry["cpu_min_eval"]
            assert abs(total - entry["cpu_min_recipe"]) <= 0.05 * total + 0.3, name
    assert "extrapolation from N batches" in costs.MEASURED["method"]


def test_costs_match_torchvision_metadata_and_the_recipes():
    import torchvision.models as tvm

    from course_tools.train import RECIPES

    for name, weights in (("resnet18", tvm.ResNet18_Weights), ("vgg19", tvm.VGG19_Weights),
                          ("vgg16", tvm.VGG16_Weights), ("squeezenet1_1", tvm.SqueezeNet1_1_Weights)):
        assert costs.DOWNLOADS[name]["download_mib"] == weights.IMAGENET1K_V1.meta["_file_size"]
    for name, entry in costs.TRAINING.items():
        if name in RECIPES:
            assert entry["epochs"] == RECIPES[name].epochs, name

import pytest
import torch
import torchvision

from course_utils import models
from course_utils.layers import get_layer


@pytest.mark.parametrize("model, shape, classes", [
    (models.MNIST_DNN(), (2, 784), 10),
    (models.MNIST_DNN(), (2, 1, 28, 28), 10),
    (models.MNIST_CNN(), (2, 1, 28, 28), 10),
    (models.SimpleCNN(), (2, 3, 32, 32), 10),
    (models.Classifier(), (1, 3, 128, 128), 11),
    (models.Classifier(width_divisor=8), (2, 3, 128, 128), 11),
    (models.vgg19(11, width_divisor=4, pooled_head=True), (1, 3, 128, 128), 11),
    (models.resnet18(11), (1, 3, 128, 128), 11),
    (models.resnet18(11, width_divisor=4), (2, 3, 128, 128), 11),
])
def test_output_shapes(model, shape, classes):
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(shape)).shape == (shape[0], classes)


def test_architectures_match_the_sources():
    # Parameter counts follow from LESSONS.md's layer lists (computed by hand).
    dnn = 784 * 512 + 512 + 512 * 100 + 100 + 100 * 10 + 10
    assert sum(p.numel() for p in models.MNIST_DNN().parameters()) == dnn
    cnn = (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (3200 * 625 + 625) + (625 * 10 + 10)
    assert sum(p.numel() for p in models.MNIST_CNN().parameters()) == cnn
    simple = (3 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (2048 * 512 + 512) + (512 * 10 + 10)
    assert sum(p.numel() for p in models.SimpleCNN().parameters()) == simple
    # The homework's classifier: cnn[15] is a ReLU in the second stack, 19 is its pool.
    clf = models.Classifier()
    assert isinstance(clf.cnn[15], torch.nn.ReLU) and isinstance(clf.cnn[19], torch.nn.MaxPool2d)
    assert clf.cnn[13].in_channels == 128 and len(clf.cnn) == 3 * 11 + 5
    assert clf.fc[0].in_features == 512 * 4 * 4


def test_vgg19_keeps_feature_indices_when_shrunk():
    with torch.device("meta"):  # only the layers' types and widths are read: no 143 M weights
        full = models.vgg19()
    small = models.vgg19(11, width_divisor=4, pooled_head=True)
    assert len(full.features) == len(small.features) == 37
    for i in range(37):
        assert type(full.features[i]) is type(small.features[i])
    assert isinstance(small.features[35], torch.nn.ReLU)
    assert small.features[34].out_channels == 128


def test_get_layer_by_dotted_name_and_error():
    model = models.resnet18()
    assert get_layer(model, "layer4") is model.layer4
    assert get_layer(model, "layer4.1.conv2") is model.layer4[1].conv2
    assert get_layer(model, model.fc) is model.fc
    with pytest.raises(KeyError, match="Did you mean: layer4"):
        get_layer(model, "layer5")
    with pytest.raises(KeyError, match="not part of this model"):
        get_layer(model, torch.nn.Linear(1, 1))


def test_build_unknown_architecture():
    with pytest.raises(KeyError, match="unknown architecture"):
        models.build("LeNet")


def test_narrow_resnet18_keeps_torchvision_topology():
    full, narrow = models.resnet18(), models.resnet18(11, width_divisor=4)
    full_names = [(n, type(m).__name__) for n, m in full.named_modules()]
    narrow_names = [(n, type(m).__name__) for n, m in narrow.named_modules()]
    assert full_names[1:] == narrow_names[1:]  # [0] is the root: ResNet vs its narrow subclass
    assert isinstance(narrow, torchvision.models.ResNet)
    assert narrow.layer4[1].conv2.out_channels == 128 and narrow.fc.in_features == 128


def test_build_initial_repeats_the_training_seed_and_keeps_the_rng():
    torch.manual_seed(0)
    expected = models.build("resnet18", num_classes=11, width_divisor=4)   # as course train does
    torch.manual_seed(123)
    before = torch.get_rng_state()
    net = models.build_initial("resnet18", seed=0, num_classes=11, width_divisor=4)
    assert torch.equal(torch.get_rng_state(), before)
    for (k, v), (_, w) in zip(net.state_dict().items(), expected.state_dict().items()):
        assert torch.equal(v, w), k
    other = models.build_initial("resnet18", seed=1, num_classes=11, width_divisor=4)
    assert not torch.equal(other.conv1.weight, net.conv1.weight)
    with pytest.raises(TypeError, match="seed"):
        models.build_initial("resnet18", seed="0")


def test_build_initial_without_keep_rng_is_the_training_scripts_seed_then_build():
    """``course train`` builds with keep_rng=False: the same weights and the same global random
    state afterwards as ``torch.manual_seed(seed)`` followed by ``build`` (how the committed
    checkpoints were made)."""
    torch.manual_seed(0)
    reference = models.build("MNIST_CNN")
    after_reference = torch.rand(3)
    torch.manual_seed(123)
    net = models.build_initial("MNIST_CNN", seed=0, keep_rng=False)
    after_net = torch.rand(3)
    for a, b in zip(reference.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(after_reference, after_net)

"""The sources' architectures, torchvision builders, and weight resolution by tier.

Architectures are written as the sources wrote them (LESSONS.md); where the offline tier has to
shrink one to train it on a CPU (width, head), a keyword says what changed and the checkpoint
manifest records it.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg

from .layers import get_layer  # noqa: F401  (re-exported: models.get_layer is the documented home)


class MNIST_DNN(nn.Module):  # noqa: N801 (the source's name)
    """Lesson 02's classifier: 784 -> 512 -> 100 -> 10 with NO activation in between.

    Without a nonlinearity the three layers collapse into one affine map W3 W2 W1 x + b: a
    linear classifier in disguise, which is why its prototypes look like templates.
    Accepts (N, 784) or (N, 1, 28, 28).
    """

    def __init__(self):
        super().__init__()
        self.dense1 = nn.Linear(784, 512)
        self.dense2 = nn.Linear(512, 100)
        self.dense3 = nn.Linear(100, 10)

    def forward(self, x):
        x = x.flatten(1)
        if x.shape[1] != 784:
            raise ValueError(f"MNIST_DNN takes 28 x 28 one-channel images (784 values each), got "
                             f"{x.shape[1]} values per image")
        return self.dense3(self.dense2(self.dense1(x)))


class MNIST_CNN(nn.Module):  # noqa: N801
    """Lesson 03's CNN: three conv blocks (32, 64, 128) with padded max-pooling, then 625 -> 10.

    MaxPool2d(2, 2, padding=1) takes 28 -> 15 -> 8 -> 5, hence the 128 * 5 * 5 features.
    """

    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=1, padding=1), nn.ReLU(True),
                                 nn.MaxPool2d(2, 2, padding=1), nn.Dropout(p=0.7))

        self.layer1 = block(1, 32)
        self.layer2 = block(32, 64)
        self.layer3 = block(64, 128)
        self.layer4 = nn.Sequential(nn.Linear(128 * 5 * 5, 625), nn.ReLU(True), nn.Dropout(0.5))
        self.layer5 = nn.Sequential(nn.Linear(625, 10))

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.layer5(self.layer4(x.flatten(1)))


class Classifier(nn.Module):
    """Lesson 04's food-11 classifier (the homework's), as one flat ``cnn`` Sequential.

    ``building_block`` = Conv3x3 -> BatchNorm -> ReLU; ``stack_blocks(in, out, n)`` = n blocks then
    MaxPool2d(2). Widths 128, 128, 256, 512, 512 divided by ``width_divisor`` (1 = the
    homework's; the offline checkpoint uses 8 so that it trains on a CPU). With a 128 x 128 input
    the five pools leave 4 x 4 maps, so ``cnn[15]`` is the ReLU after the second conv of the
    second stack, as in the homework.
    """

    WIDTHS = (128, 128, 256, 512, 512)
    DEPTHS = (3, 3, 3, 1, 1)

    def __init__(self, num_classes: int = 11, width_divisor: int = 1, input_size: int = 128):
        super().__init__()
        widths = [w // width_divisor for w in self.WIDTHS]

        def building_block(indim, outdim):
            return [nn.Conv2d(indim, outdim, 3, 1, 1), nn.BatchNorm2d(outdim), nn.ReLU()]

        def stack_blocks(indim, outdim, block_num):
            layers = building_block(indim, outdim)
            for _ in range(block_num - 1):
                layers += building_block(outdim, outdim)
            layers.append(nn.MaxPool2d(2, 2, 0))
            return layers

        cnn_list, cin = [], 3
        for w, n in zip(widths, self.DEPTHS):
            cnn_list += stack_blocks(cin, w, n)
            cin = w
        self.cnn = nn.Sequential(*cnn_list)
        side = input_size // 32
        self.fc = nn.Sequential(nn.Linear(widths[-1] * side * side, 1024), nn.ReLU(),
                                nn.Dropout(p=0.3), nn.Linear(1024, num_classes))

    def forward(self, x):
        out = self.cnn(x)
        return self.fc(out.reshape(out.size(0), -1))


class SimpleCNN(nn.Module):
    """Lesson 06's CIFAR-10 CNN: conv1/2/3 (32, 64, 128) each -> ReLU -> MaxPool2d(2), then 512 -> 10.

    Grad-CAM is taken at ``conv3``: the convolution's output, before its ReLU, as in the source.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(128 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.pool(self.relu(self.conv3(x)))
        x = self.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class _NarrowResNet(tv_resnet.ResNet):
    """torchvision's ResNet built by its own ``_make_layer`` with a narrower first width.

    Same modules, names and topology as ``torchvision.models.resnet18`` (conv1, bn1, relu,
    maxpool, layer1..layer4 of two BasicBlocks each, avgpool, fc); only the channel counts
    (width, 2w, 4w, 8w instead of 64, 128, 256, 512) differ.
    """

    def __init__(self, width: int, num_classes: int):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        block = tv_resnet.BasicBlock
        self.layer1 = self._make_layer(block, width, 2)
        self.layer2 = self._make_layer(block, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(block, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(block, 8 * width, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def _check_widths(num_classes: int, width_divisor: int) -> None:
    """num_classes >= 1; width_divisor one of 1, 2, 4, ..., 64 (it divides the 64 channels of
    the first layer, so every layer keeps at least one channel and the widths stay whole)."""
    for name, value in (("num_classes", num_classes), ("width_divisor", width_divisor)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if 64 % width_divisor:
        raise ValueError(f"width_divisor must divide 64 (1, 2, 4, 8, 16, 32 or 64), got {width_divisor}")


def resnet18(num_classes: int = 1000, width_divisor: int = 1) -> nn.Module:
    """torchvision's ResNet-18; ``width_divisor`` > 1 divides every layer's channels (offline)."""
    _check_widths(num_classes, width_divisor)
    if width_divisor == 1:
        return torchvision.models.resnet18(weights=None, num_classes=num_classes)
    return _NarrowResNet(64 // width_divisor, num_classes)


def vgg19(num_classes: int = 1000, width_divisor: int = 1, pooled_head: bool = False,
          batch_norm: bool = False) -> nn.Module:
    """torchvision's VGG-19. ``features`` keeps its 37 modules and their indices (``features.35``
    is the last ReLU of block 5) whatever the width.

    ``batch_norm=True`` is torchvision's ``vgg19_bn`` layout (Conv, BatchNorm, ReLU): there the last
    ReLU of block 5 is ``features.51``. The offline checkpoint needs it: the plain VGG-19 did not
    start learning from scratch on the scenes (its loss stayed at ln 11 for 60 steps).

    Offline changes (recorded in the manifest): ``width_divisor`` divides every conv's
    channels; ``pooled_head`` replaces the 7 x 7 average pool and the 25088 -> 4096 -> 4096 head
    by a global average pool and a 256-wide head of the same shape (Linear, ReLU, Dropout twice).
    """
    _check_widths(num_classes, width_divisor)
    if width_divisor == 1 and not pooled_head and not batch_norm:
        return torchvision.models.vgg19(weights=None, num_classes=num_classes)
    cfg = [v if v == "M" else v // width_divisor for v in tv_vgg.cfgs["E"]]
    model = tv_vgg.VGG(tv_vgg.make_layers(cfg, batch_norm=batch_norm), num_classes=num_classes)
    if pooled_head:
        channels, hidden = cfg[-2], 256
        model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        model.classifier = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(hidden, num_classes))
        # PyTorch's default Linear initialisation, not VGG's N(0, 0.01): with 64 inputs and
        # 256 hidden units that tiny scale starved the convolutions of gradient (the loss fell
        # from 2.31 to only 2.10 in four epochs).
    return model


# Builders for lesson 01's comparison: all from torchvision, random weights.
TORCHVISION_BUILDERS = {
    "AlexNet": torchvision.models.alexnet,
    "ResNet-18": torchvision.models.resnet18,
    "ResNet-34": torchvision.models.resnet34,
    "ResNet-50": torchvision.models.resnet50,
    "DenseNet-121": torchvision.models.densenet121,
    "VGG-16": torchvision.models.vgg16,
    "VGG-19": torchvision.models.vgg19,
    "SqueezeNet 1.1": torchvision.models.squeezenet1_1,
}

# ImageNet weights used in the full tier (torchvision's weight enums; files in the torch hub cache).
IMAGENET_WEIGHTS = {
    "resnet18": ("resnet18", torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    "vgg19": ("vgg19", torchvision.models.VGG19_Weights.IMAGENET1K_V1),
    "vgg16": ("vgg16", torchvision.models.VGG16_Weights.IMAGENET1K_V1),  # lesson 06, seed 003
    "squeezenet1_1": ("squeezenet1_1", torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1),
}


def imagenet_weights_file(name: str) -> Path:
    """Where torchvision keeps (or would download) the ImageNet weights of ``name``."""
    if name not in IMAGENET_WEIGHTS:
        raise KeyError(f"no ImageNet weights known for {name!r}; choose from {sorted(IMAGENET_WEIGHTS)}")
    _, weights = IMAGENET_WEIGHTS[name]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def imagenet_model(name: str) -> tuple[nn.Module, list[str]]:
    """Build ``name`` with ImageNet weights read from the torch hub cache, never downloading.

    Returns the model in eval mode and the 1000 class names. Raises ``CourseDataError`` naming the
    file and how to get it when the cache does not hold it.
    """
    from .config import CourseDataError

    path = imagenet_weights_file(name)
    builder_name, weights = IMAGENET_WEIGHTS[name]
    if not path.is_file():
        raise CourseDataError(
            f"ImageNet weights for {name} are not in the torch hub cache: expected {path}. On a "
            f"machine with internet run: python -c \"import torchvision; torchvision.models."
            f"{builder_name}(weights='{weights.name}')\" (it downloads {weights.url}), or copy "
            f"the file there. TORCH_HOME moves the cache.")
    model = getattr(torchvision.models, builder_name)(weights=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or not a state dict
        raise CourseDataError(f"could not read {path} ({exc}); delete it and download it again.") from exc
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CourseDataError(f"{path} does not hold {name}'s ImageNet weights ({exc}); delete it "
                              "and download it again.") from exc
    return model.eval(), list(weights.meta["categories"])


ARCHITECTURES = {
    "MNIST_DNN": MNIST_DNN,
    "MNIST_CNN": MNIST_CNN,
    "Classifier": Classifier,
    "SimpleCNN": SimpleCNN,
    "resnet18": resnet18,
    "vgg19": vgg19,
}


def build(architecture: str, **kwargs) -> nn.Module:
    """Build one of the course's architectures by name (as written in the checkpoint manifest)."""
    if architecture not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**kwargs)


def build_initial(architecture: str, seed: int, *, keep_rng: bool = True,
                  **kwargs) -> nn.Module:
    """The untrained network a course checkpoint started from: ``torch.manual_seed(seed)``, then
    :func:`build`.

    ``course train`` (``course_tools/train.py``) builds every model this way, with
    ``keep_rng=False`` (training goes on from the seeded global state, as the committed
    checkpoints were made). With ``keep_rng=True`` (the default) both steps run inside
    :func:`torch.random.fork_rng`, so the caller's random state is left as it was: lesson 08's
    "untrained network" reference.

    Args:
        architecture: a name known to :func:`build` (the manifest's ``architecture``).
        seed: the recipe's seed (the manifest's ``seed``).
        keep_rng: restore the caller's global random state afterwards.
        **kwargs: passed to :func:`build` (the manifest's ``arch_kwargs``).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int (the manifest entry's 'seed'), got {seed!r}")
    if not keep_rng:
        torch.manual_seed(seed)
        return build(architecture, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(architecture, **kwargs)

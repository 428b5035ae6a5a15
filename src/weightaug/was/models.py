"""Image classifiers for shadow-weight experiments: a small CNN and CIFAR-style ResNet-18/34 (3x3 stem, no
max-pool, for 32x32 inputs), written here because torchvision's compiled operators do not load against every
PyTorch build."""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(out)) + self.shortcut(x)).relu()


class ResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...], n_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        stages, c_in = [], 64
        for i, n in enumerate(blocks):
            c_out = 64 * 2**i
            stages += [BasicBlock(c_in if j == 0 else c_out, c_out, 2 if (i > 0 and j == 0) else 1) for j in range(n)]
            c_in = c_out
        self.layers = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.layers(self.stem(x)))


def small_cnn(n_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """Three 3x3 conv blocks (32, 64, 128 channels) with BatchNorm and pooling, then a linear head."""
    layers, c = [], in_channels
    for width in (32, 64, 128):
        layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes))


IMAGE_MODELS = {
    "small_cnn": small_cnn,
    "resnet18": lambda n_classes=10, in_channels=3: ResNet((2, 2, 2, 2), n_classes, in_channels),
    "resnet34": lambda n_classes=10, in_channels=3: ResNet((3, 4, 6, 3), n_classes, in_channels),
}


def build_image_model(name: str, n_classes: int = 10, in_channels: int = 3) -> nn.Module:
    if name not in IMAGE_MODELS:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(IMAGE_MODELS)}")
    return IMAGE_MODELS[name](n_classes=n_classes, in_channels=in_channels)

"""Image classifiers for shadow-weight experiments, CIFAR-style (3x3 stems, for 28-32 pixel inputs): a small
CNN, ResNet-18/34, VGG-16 (BatchNorm), MobileNetV2, a GoogLeNet and an EfficientNet-Lite0. Written here because
torchvision's compiled operators do not load against every PyTorch build; the layer plans follow the papers."""

from __future__ import annotations

import torch
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


def conv_bn(c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU6() if act else nn.Identity())


def vgg16(n_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """VGG-16 with BatchNorm: 13 3x3 convs in five stages, max-pool between, a linear head."""
    plan = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], in_channels
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(c, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU()]
            c = item
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes))


class InvertedResidual(nn.Module):
    """MobileNetV2 / EfficientNet-Lite block: 1x1 expand, k x k depthwise, 1x1 project, residual if shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, k: int = 3) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [conv_bn(c_in, hidden, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, k, stride, groups=hidden), conv_bn(hidden, c_out, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.residual else self.block(x)


def inverted_residual_net(
    plan: list[tuple[int, int, int, int, int]], stem: int, head: int, n_classes: int, in_channels: int
) -> nn.Sequential:
    """Stem, then (expand, channels, repeats, stride, kernel) stages of inverted residuals, then a 1x1 head."""
    layers, c = [conv_bn(in_channels, stem)], stem
    for expand, c_out, repeats, stride, k in plan:
        for i in range(repeats):
            layers.append(InvertedResidual(c, c_out, stride if i == 0 else 1, expand, k))
            c = c_out
    head_layers = [conv_bn(c, head, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(head, n_classes)]
    return nn.Sequential(*layers, *head_layers)


def mobilenet_v2(n_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """MobileNetV2 (width 1.0), the CIFAR variant: stride 1 in the stem and the second stage."""
    plan = [(1, 16, 1, 1, 3), (6, 24, 2, 1, 3), (6, 32, 3, 2, 3), (6, 64, 4, 2, 3), (6, 96, 3, 1, 3)]
    plan += [(6, 160, 3, 2, 3), (6, 320, 1, 1, 3)]
    return inverted_residual_net(plan, 32, 1280, n_classes, in_channels)


def efficientnet_lite0(n_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """EfficientNet-Lite0: EfficientNet-B0's stages without squeeze-excitation, ReLU6, for 32x32 inputs."""
    plan = [(1, 16, 1, 1, 3), (6, 24, 2, 1, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3), (6, 112, 3, 1, 5)]
    plan += [(6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]
    return inverted_residual_net(plan, 32, 1280, n_classes, in_channels)


class Inception(nn.Module):
    """GoogLeNet's module: 1x1, 1x1->3x3, 1x1->3x3->3x3 (the 5x5 as two 3x3) and pool->1x1 branches."""

    def __init__(self, c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int) -> None:
        super().__init__()
        relu = nn.ReLU
        self.b1 = nn.Sequential(nn.Conv2d(c_in, c1, 1), nn.BatchNorm2d(c1), relu())
        self.b3 = nn.Sequential(
            nn.Conv2d(c_in, c3r, 1),
            nn.BatchNorm2d(c3r),
            relu(),
            nn.Conv2d(c3r, c3, 3, padding=1),
            nn.BatchNorm2d(c3),
            relu(),
        )
        self.b5 = nn.Sequential(
            nn.Conv2d(c_in, c5r, 1), nn.BatchNorm2d(c5r), relu(), nn.Conv2d(c5r, c5, 3, padding=1), nn.BatchNorm2d(c5),
            relu(), nn.Conv2d(c5, c5, 3, padding=1), nn.BatchNorm2d(c5), relu()
        )  # fmt: skip
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c_in, cp, 1), nn.BatchNorm2d(cp), relu())

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


def googlenet(n_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """GoogLeNet's nine inception modules (the paper's widths) after a 3x3 stem, without auxiliary heads."""
    pool = nn.MaxPool2d(3, 2, 1)
    return nn.Sequential(
        nn.Conv2d(in_channels, 192, 3, padding=1), nn.BatchNorm2d(192), nn.ReLU(),
        Inception(192, 64, 96, 128, 16, 32, 32), Inception(256, 128, 128, 192, 32, 96, 64), pool,
        Inception(480, 192, 96, 208, 16, 48, 64), Inception(512, 160, 112, 224, 24, 64, 64),
        Inception(512, 128, 128, 256, 24, 64, 64), Inception(512, 112, 144, 288, 32, 64, 64),
        Inception(528, 256, 160, 320, 32, 128, 128), nn.MaxPool2d(3, 2, 1),
        Inception(832, 256, 160, 320, 32, 128, 128), Inception(832, 384, 192, 384, 48, 128, 128),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, n_classes),
    )  # fmt: skip


def depthwise(name: str, module: nn.Module) -> bool:
    """The layers the paper's code transforms in MobileNetV2 and EfficientNet-Lite: depthwise k x k convs."""
    return isinstance(module, nn.Conv2d) and module.groups == module.in_channels > 1 and max(module.kernel_size) > 1


IMAGE_MODELS = {
    "small_cnn": small_cnn,
    "resnet18": lambda n_classes=10, in_channels=3: ResNet((2, 2, 2, 2), n_classes, in_channels),
    "resnet34": lambda n_classes=10, in_channels=3: ResNet((3, 4, 6, 3), n_classes, in_channels),
    "vgg16": vgg16,
    "mobilenet_v2": mobilenet_v2,
    "googlenet": googlenet,
    "efficientnet_lite0": efficientnet_lite0,
}


def block_convs(name: str, module: nn.Module) -> bool:
    """ResNet in the public WAS code: the blocks' conv1 and conv2, not the stem (nor the 1x1 shortcuts)."""
    return isinstance(module, nn.Conv2d) and name.startswith("layers.") and name.endswith((".conv1", ".conv2"))


def vgg_inner_convs(name: str, module: nn.Module) -> bool:
    """VGG-16 in the public code: 9 of the 13 convs, not the first of stages 1-4 (the ones that change the width)."""
    return isinstance(module, nn.Conv2d) and module.in_channels == module.out_channels


def inception_branch_convs(name: str, module: nn.Module) -> bool:
    """GoogLeNet in the public code: the 3x3 and 5x5 branch convs of the Inception modules (our 5x5 is two 3x3)."""
    return isinstance(module, nn.Conv2d) and max(module.kernel_size) > 1 and (".b3." in name or ".b5." in name)


SHADOW_LAYERS = {"mobilenet_v2": depthwise, "efficientnet_lite0": depthwise}  # others: every k x k conv
# layers="paper": the layers the public WAS code transforms in each architecture, and its transform where it
# differs from "paper" (translate or crop); small_cnn is ours (every 3x3 conv)
PAPER_LAYERS = {
    "resnet18": block_convs,
    "resnet34": block_convs,
    "vgg16": vgg_inner_convs,
    "googlenet": inception_branch_convs,
    "mobilenet_v2": depthwise,
    "efficientnet_lite0": depthwise,
}
PAPER_TRANSFORMS = {"vgg16": "crop", "googlenet": "paper:scale=(0.6,0.8)"}


def build_image_model(name: str, n_classes: int = 10, in_channels: int = 3) -> nn.Module:
    if name not in IMAGE_MODELS:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(IMAGE_MODELS)}")
    return IMAGE_MODELS[name](n_classes=n_classes, in_channels=in_channels)

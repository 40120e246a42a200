"""The OpenPose student written plainly in PyTorch: the reference side of `benchmarks.train_step`.

Same layers, channel counts, width multiplier, pooling and stage wiring as
`ltsh_jax.models.openpose.OpenPose` (VGG-19 conv1_1 .. conv4_2, conv4_3_CPM, conv4_4_CPM; stage 1
with two branches of 3 x (3x3, 128) + 1x1 512 + 1x1 out; later stages with two branches of
5 x (7x7, 128) + 1x1 128 + 1x1 out, each fed concat([features, PAFs, heatmaps])). The layout is
NCHW (PyTorch's default; `channels_last` is a memory format chosen by the caller). Only what the
benchmark needs is here: the network, the masked multi-stage L2 loss and a step (forward, backward,
Adam). Targets are plain tensors made once by the caller; the JAX step builds them on device.
"""

from __future__ import annotations

import torch
from torch import nn

# Kept literally here (not imported from ltsh_jax) so that this file stands on its own.
VGG_LAYERS = (
    ("conv1_1", 64, False),
    ("conv1_2", 64, True),
    ("conv2_1", 128, False),
    ("conv2_2", 128, True),
    ("conv3_1", 256, False),
    ("conv3_2", 256, False),
    ("conv3_3", 256, False),
    ("conv3_4", 256, True),
    ("conv4_1", 512, False),
    ("conv4_2", 512, False),
    ("conv4_3_CPM", 256, False),
    ("conv4_4_CPM", 128, False),
)
STAGE1_BRANCH = ((3, 128), (3, 128), (3, 128), (1, 512))
LATER_BRANCH = ((7, 128),) * 5 + ((1, 128),)


def scaled(channels: int, width: float) -> int:
    """A channel count multiplied by the width factor, rounded, at least 1 (as in the JAX model)."""
    return max(1, int(round(channels * width)))


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class Backbone(nn.Sequential):
    """VGG-19 conv1_1 .. conv4_2 + conv4_3_CPM + conv4_4_CPM, ReLU after each, 3 max pools (stride 8)."""

    def __init__(self, width: float):
        layers, cin = [], 3
        for _, channels, pool in VGG_LAYERS:
            cout = scaled(channels, width)
            layers += [_conv(cin, cout, 3), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # = 'SAME' pooling of the JAX model
            cin = cout
        super().__init__(*layers)
        self.out_channels = cin


class Branch(nn.Sequential):
    """Hidden convs with ReLU, then a 1x1 output conv without activation."""

    def __init__(self, cin: int, hidden, cout: int, width: float):
        layers = []
        for k, channels in hidden:
            c = scaled(channels, width)
            layers += [_conv(cin, c, k), nn.ReLU(inplace=True)]
            cin = c
        layers.append(_conv(cin, cout, 1))
        super().__init__(*layers)


class OpenPose(nn.Module):
    """Returns a list of (pafs, heatmaps) per stage, each [B, C, H/8, W/8]."""

    def __init__(self, num_heatmaps: int = 16, num_pafs: int = 28, width: float = 1.0, num_stages: int = 6):
        super().__init__()
        self.backbone = Backbone(width)
        feat = self.backbone.out_channels
        self.stages = nn.ModuleList()
        for t in range(1, num_stages + 1):
            cin = feat if t == 1 else feat + num_pafs + num_heatmaps
            hidden = STAGE1_BRANCH if t == 1 else LATER_BRANCH
            self.stages.append(
                nn.ModuleList([Branch(cin, hidden, num_pafs, width), Branch(cin, hidden, num_heatmaps, width)])
            )

    def forward(self, images: torch.Tensor):
        features = self.backbone(images)
        x, outputs = features, []
        for i, (l1, l2) in enumerate(self.stages):
            pafs, heatmaps = l1(x), l2(x)
            outputs.append((pafs, heatmaps))
            if i + 1 < len(self.stages):
                x = torch.cat([features, pafs, heatmaps], dim=1)
        return outputs


def conv_names(num_stages: int, num_layers_stage1: int = 5, num_layers_later: int = 7) -> list[str]:
    """'/'-joined JAX parameter paths of every conv, in the order of `OpenPose.modules()`."""
    names = [f"backbone/{name}" for name, _, _ in VGG_LAYERS]
    for t in range(1, num_stages + 1):
        n = num_layers_stage1 if t == 1 else num_layers_later
        names += [f"stage{t}/{b}/conv{i}" for b in ("L1", "L2") for i in range(1, n + 1)]
    return names


@torch.no_grad()
def load_jax_params(model: OpenPose, params) -> None:
    """Copies a JAX OpenPose parameter tree (kernels HWIO) into the model (OIHW), so both compute the same."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    names = conv_names(len(model.stages))
    assert len(convs) == len(names), (len(convs), len(names))
    for conv, name in zip(convs, names, strict=True):
        node = params
        for key in name.split("/"):
            node = node[key]
        kernel = torch.from_numpy(node["kernel"].transpose(3, 2, 0, 1).copy())
        if kernel.shape != conv.weight.shape:
            raise ValueError(f"{name}: JAX kernel {tuple(kernel.shape)} != torch {tuple(conv.weight.shape)}")
        conv.weight.copy_(kernel)
        conv.bias.copy_(torch.from_numpy(node["bias"].copy()))


def pose_loss(outputs, heatmaps, pafs, heatmap_mask, paf_mask) -> torch.Tensor:
    """Mean over samples of 0.5 * masked squared error, summed over cells, channels and stages."""
    total = 0.0
    for pred_pafs, pred_heatmaps in outputs:
        total = (
            total + (paf_mask * (pred_pafs - pafs) ** 2).sum() + (heatmap_mask * (pred_heatmaps - heatmaps) ** 2).sum()
        )
    return 0.5 * total / heatmaps.shape[0]


def make_step(model: OpenPose, optimizer: torch.optim.Optimizer):
    """(images, targets...) -> loss: one forward, backward and Adam update."""

    def step(images, heatmaps, pafs, heatmap_mask, paf_mask):
        optimizer.zero_grad(set_to_none=True)
        loss = pose_loss(model(images), heatmaps, pafs, heatmap_mask, paf_mask)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step

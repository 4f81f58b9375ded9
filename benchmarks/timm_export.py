"""Export the architectures benchmarks/timm_models.py checks: timm and torchvision models
(random weights, nothing downloaded) and small recurrent and control-flow modules, each with
both of torch's ONNX exporters, at batch 1 and small inputs.

    PYTHON benchmarks/timm_export.py OUTDIR [--only NAME,...]

PYTHON is an interpreter where torch, torchvision, timm, onnx and onnxscript import (a
scratch venv: docs/bring-your-model.md); this file imports nothing of the harness. Writes
OUTDIR/NAME.EXPORTER.onnx, and OUTDIR/exports.json with the reason of every export that
failed (an exporter's failure, not the harness's).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

Build = Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]


def _image(size: int, channels: int = 3) -> tuple[torch.Tensor, ...]:
    return (torch.randn(1, channels, size, size),)


def _timm(name: str, size: int, **kwargs: object) -> Build:
    def build() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        import timm

        return timm.create_model(name, pretrained=False, **kwargs), _image(size)

    return build


def _tv(name: str, size: int, inputs: int = 1, video: bool = False, **kwargs: object) -> Build:
    def build() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        import torchvision

        net = torchvision.models.get_model(name, weights=None, **kwargs)
        if video:  # (N, C, frames, H, W)
            return net, (torch.randn(1, 3, 4, size, size),)
        return net, tuple(_image(size)[0] for _ in range(inputs))

    return build


class Recurrent(nn.Module):
    """A keyword-spotting style classifier: an LSTM or GRU over a (1, T, F) sequence."""

    def __init__(self, cell: type[nn.Module], layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.rnn = cell(16, 24, layers, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(24 * (2 if bidirectional else 1), 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class Gated(nn.Module):
    """A branch on a value of the input, as voice-activity models branch on a sample rate."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda t: self.a(t), lambda t: self.b(t), (x,))


class Looped(nn.Module):
    """A loop of fixed trip count, scripted so the TorchScript exporter writes a Loop."""

    def __init__(self) -> None:
        super().__init__()
        self.step = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(x.shape[1] // 4):  # a count from the input's shape: a real Loop
            x = torch.tanh(self.step(x))
        return x


def _module(make: Callable[[], nn.Module], *shape: int, script: bool = False) -> Build:
    def build() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        net = make()
        return (torch.jit.script(net) if script else net), (torch.randn(*shape),)

    return build


MODELS: dict[str, Build] = {
    "efficientnet_lite0": _timm("efficientnet_lite0", 64),
    "mobilenetv3_large_100": _timm("mobilenetv3_large_100", 64),
    "tf_mobilenetv3_small_minimal_100": _timm("tf_mobilenetv3_small_minimal_100", 64),
    "lcnet_050": _timm("lcnet_050", 64),
    "ghostnet_100": _timm("ghostnet_100", 64),
    "regnetx_002": _timm("regnetx_002", 64),
    "resnet18d": _timm("resnet18d", 64),
    "repvgg_a0": _timm("repvgg_a0", 64),
    "hrnet_w18_small": _timm("hrnet_w18_small", 64),
    "convnext_atto": _timm("convnext_atto", 64),
    "mobilevit_xs": _timm("mobilevit_xs", 64),
    "levit_128s": _timm("levit_128s", 224),
    "deit_tiny_patch16": _timm("deit_tiny_patch16_224", 64, img_size=64),
    "googlenet": _tv("googlenet", 64, aux_logits=False, init_weights=True),
    "inception_v3": _tv("inception_v3", 96, aux_logits=False, init_weights=True),
    "vit_b_16": _tv("vit_b_16", 64, image_size=64),
    "swin_t": _tv("swin_t", 64),
    "maxvit_t": _tv("maxvit_t", 224),
    "lraspp_mobilenet_v3_large": _tv(
        "lraspp_mobilenet_v3_large", 96, weights_backbone=None, num_classes=5
    ),
    "deeplabv3_mobilenet_v3_large": _tv(
        "deeplabv3_mobilenet_v3_large", 96, weights_backbone=None, num_classes=5, aux_loss=False
    ),
    "ssdlite320_mobilenet_v3_large": _tv(
        "ssdlite320_mobilenet_v3_large", 320, weights_backbone=None, num_classes=5
    ),
    "fcos_resnet50_fpn": _tv(
        "fcos_resnet50_fpn", 128, weights_backbone=None, num_classes=5, min_size=128, max_size=128
    ),
    "raft_small": _tv("raft_small", 128, inputs=2),
    "mixnet_s": _timm("mixnet_s", 64),
    "rexnet_100": _timm("rexnet_100", 64),
    "dla34": _timm("dla34", 64),
    "fastvit_t8": _timm("fastvit_t8", 64),
    "edgenext_xx_small": _timm("edgenext_xx_small", 64),
    "mobilevitv2_050": _timm("mobilevitv2_050", 64),
    "efficientvit_m0": _timm("efficientvit_m0", 224),
    "poolformer_s12": _timm("poolformer_s12", 64),
    "densenet121": _tv("densenet121", 64),
    "shufflenet_v2_x1_0": _tv("shufflenet_v2_x1_0", 64),
    "squeezenet1_0": _tv("squeezenet1_0", 64),
    "mnasnet0_5": _tv("mnasnet0_5", 64),
    "r3d_18": _tv("r3d_18", 32, video=True),
    "lstm": _module(lambda: Recurrent(nn.LSTM, 1, False), 1, 10, 16),
    "lstm_2layer_bidir": _module(lambda: Recurrent(nn.LSTM, 2, True), 1, 10, 16),
    "gru": _module(lambda: Recurrent(nn.GRU, 1, False), 1, 10, 16),
    "cond": _module(Gated, 1, 8),
    "scripted_loop": _module(Looped, 1, 8, script=True),
}


def _randomise(net: nn.Module) -> None:
    """BatchNorm statistics away from identity, so folding them matters in the parity; and
    weights initialised to zero (torchvision's ViT head) random, so the outputs are not
    all zero and the parity means something."""
    for m in net.modules():
        weight = getattr(m, "weight", None)
        if isinstance(m, nn.Linear | nn.Conv2d) and weight is not None and not weight.any():
            nn.init.normal_(weight, 0.0, 0.05)
        if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)


def export(build: Build, dynamo: bool) -> bytes:
    torch.manual_seed(0)
    net, inputs = build()
    if isinstance(net, nn.Module) and not isinstance(net, torch.jit.ScriptModule):
        _randomise(net)
    net.eval()
    buffer = io.BytesIO()
    with torch.no_grad():
        if dynamo:
            program = torch.onnx.export(net, inputs, dynamo=True, verbose=False)
            assert program is not None
            program.save(buffer)  # type: ignore[arg-type]
        else:
            torch.onnx.export(net, inputs, buffer, dynamo=False, opset_version=17)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", default="", help="comma-separated names (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or list(MODELS)
    log_path = args.out / "exports.json"
    failures = json.loads(log_path.read_text()) if log_path.exists() else {}
    for name in names:
        for exporter in ("torchscript", "dynamo"):
            target = args.out / f"{name}.{exporter}.onnx"
            if target.exists() or f"{name}.{exporter}" in failures:
                continue
            print(f"exporting {name} ({exporter})", file=sys.stderr, flush=True)
            try:
                target.write_bytes(export(MODELS[name], exporter == "dynamo"))
            except Exception as exc:  # an exporter's failure is recorded, not raised
                text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
                lines = [ln for ln in text.strip().splitlines() if ln.strip()]
                cause = [ln for ln in lines if ln.startswith("<class '")]  # torch.export's own
                why = (cause or lines or [type(exc).__name__])[0]
                failures[f"{name}.{exporter}"] = f"{type(exc).__name__}: {why}"[:200]
                traceback.print_exc(limit=1)
            log_path.write_text(json.dumps(failures, indent=1))


if __name__ == "__main__":
    main()

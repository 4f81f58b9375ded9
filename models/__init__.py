"""Built-in model architectures, each a `build(input_shape, n_classes, width, depth)`.

Listed by module path so that naming them never imports torch.
"""

from harness.registry import Registry

ARCHITECTURES: Registry = Registry("model architecture")
ARCHITECTURES.register("mlp", "harness.models.mlp:build")
ARCHITECTURES.register("small_cnn", "harness.models.cnn:build")
ARCHITECTURES.register("mobile_cnn", "harness.models.mobile:build")
ARCHITECTURES.register("resnet8", "harness.models.resnet8:build")
ARCHITECTURES.register("mobilenet_v2", "harness.models.mobilenetv2:build")

# Which data each architecture takes: a config pairing an image net with tabular data is an error.
INPUT_KINDS: dict[str, set[str]] = {
    "mlp": {"image", "tabular"},
    "small_cnn": {"image"},
    "mobile_cnn": {"image"},
    "resnet8": {"image"},
    "mobilenet_v2": {"image"},
}

# Bumped whenever an architecture's build() makes a different network from the same
# (width, depth): the revision is part of the trained-model cache key and of the history
# series key, so a cached model or an old series of the previous network is never reused.
REVISIONS: dict[str, int] = {
    "mlp": 1,
    "small_cnn": 2,  # 2: pools only while the map stays >= 4x4 (the head sees 4x4, not 2x2)
    "mobile_cnn": 1,
    "resnet8": 1,
    "mobilenet_v2": 1,
}

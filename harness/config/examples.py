"""The built-in example sweeps, shipped as commented TOML files beside this module.

`harness run --example NAME` runs one; `harness init --example NAME` writes it out to edit.
`default` is the two-minute first run; `tiny-vision` the compute-bound suite
(ResNet-8 and MobileNetV2-0.35 on generated 32x32 scenes, about 15 minutes cold).
"""

from __future__ import annotations

from importlib import resources

from harness.errors import ConfigError
from harness.registry import nearest

__all__ = ["DEFAULT_EXAMPLE", "EXAMPLES", "example_source", "example_text"]

DEFAULT_EXAMPLE = "default"

# name -> file beside this module (a plain dict: a Registry reads "a.b" strings as imports)
EXAMPLES: dict[str, str] = {"default": "default.toml", "tiny-vision": "tiny-vision.toml"}


def example_text(name: str) -> str:
    """The TOML text of a built-in example; ConfigError naming the choices if unknown."""
    if name not in EXAMPLES:
        raise ConfigError(
            f"--example: unknown example '{name}'{nearest(name, list(EXAMPLES))}; "
            f"choose from: {', '.join(EXAMPLES)}"
        )
    return resources.files("harness.config").joinpath(EXAMPLES[name]).read_text()


def example_source(name: str) -> str:
    """How errors and the stored run name the example's config."""
    return "<default config>" if name == DEFAULT_EXAMPLE else f"<example {name}>"

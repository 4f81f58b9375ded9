"""Config texts several test modules start from."""

from __future__ import annotations

# The smallest valid sweep: one dataset, model, policy, compression and runtime.
MINIMAL = """
[dataset]
name = "digits"
[models.m]
arch = "small_cnn"
[policies]
none = "none"
[compression]
fp32 = []
[runtimes.onnxruntime]
threads = 1
"""

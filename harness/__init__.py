"""edge-harness: sweep training and compression settings, benchmark on edge runtimes."""

__version__ = "0.1.0"

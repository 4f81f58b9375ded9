"""One error hierarchy: the core raises these; only cli.py turns them into messages."""


class HarnessError(Exception):
    """A problem the user can fix; its message is one line saying what and how."""


class ConfigError(HarnessError):
    """The sweep config (or a command-line option) is invalid."""


class DataError(HarnessError):
    """A dataset could not be loaded or does not have the expected shape."""


class ConversionError(HarnessError):
    """A model could not be converted to a runtime's format."""


class UnsupportedOpError(ConversionError):
    """A graph holds an operator a converter or runtime cannot handle."""

    def __init__(self, runtime: str, op_type: str, detail: str = "") -> None:
        self.runtime = runtime
        self.op_type = op_type
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"unsupported on {runtime}: {op_type}{suffix}")


class CompressionError(HarnessError):
    """A compression pass could not be applied to a model."""


class RuntimeUnavailable(HarnessError):
    """A runtime's Python package is not installed or cannot load a model."""


class StoreError(HarnessError):
    """The results store is missing, newer than this harness, or inconsistent."""

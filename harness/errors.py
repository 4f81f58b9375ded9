"""One error hierarchy: the core raises these; only cli.py turns them into messages."""


class HarnessError(Exception):
    """A problem the user can fix; its message is one line saying what and how."""


def one_line(exc: BaseException) -> str:
    """An error as one line: a HarnessError's own first line, anything else with its type
    (a bare KeyError or ValueError says little without it)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, HarnessError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ConfigError(HarnessError):
    """The sweep config (or a command-line option) is invalid."""


class DataError(HarnessError):
    """A dataset could not be loaded or does not have the expected shape."""


class ConversionError(HarnessError):
    """A model could not be converted to a runtime's format."""


class UnsupportedError(ConversionError):
    """A runtime cannot take this kind of candidate at all (ExecuTorch and a model with no
    PyTorch form; LiteRT's int8 and an already quantized model): not a failure, the sweep
    records it with status `unsupported` and this message as the reason."""

    def __init__(self, runtime: str, why: str) -> None:
        self.runtime = runtime
        super().__init__(f"unsupported on {runtime}: {why}")


class UnsupportedOpError(ConversionError):
    """A graph holds an operator the harness's converter does not handle (yet): a failure,
    which a nightly run should flag, unlike a candidate the runtime cannot take at all."""

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


class ParamError(ValueError):
    """A bad parameter inside a config section; config.py prefixes the file and path.

    `key` is relative to the section being parsed (e.g. "bits" or "steps[1].op").
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


class MeasurementError(HarnessError):
    """A runtime crashed, timed out or failed while measuring a model."""

"""Reading stored JSON fast: a big report parses thousands of candidates' details (500
latency samples each), and orjson does it in a third of json's time.

`loads` returns exactly what `json.loads` returns. orjson refuses NaN, Infinity and lone
surrogates (json.loads takes them) and reads integers beyond 64 bits as floats; text with a
run of 19 digits (which no float's repr has) or that orjson refuses goes to json instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")


def loads(text: str) -> Any:
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)

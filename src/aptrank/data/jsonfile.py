"""Reading a JSON object from a file aptrank wrote (a record, a weights file), with errors that
name the file, the line and the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aptrank.errors import DataError


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; a missing file, invalid JSON or another JSON type is a
    :class:`DataError` (``what`` names the expected file in the missing-file message).

    >>> read_json_object("/nonexistent/aptrank.json", "a trained ranker's record")
    Traceback (most recent call last):
    ...
    aptrank.errors.DataError: /nonexistent/aptrank.json: a trained ranker's record was not found
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} was not found", path) from None
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg})", path, e.lineno) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path) from None
    if not isinstance(data, dict):
        raise DataError(f"expected a JSON object, found {type(data).__name__}", path)
    return data

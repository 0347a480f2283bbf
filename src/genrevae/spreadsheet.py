"""CSV cells a spreadsheet program will not run: the tables the project writes for people
(manifest, rejections, predictions) hold names and lyrics from users, and a cell starting
with ``=``, ``+``, ``-``, ``@``, a tab or a CR is a formula to Excel or LibreOffice. Such a
cell is written behind a ``'`` (and so is one that starts with the quote itself), and
reading back drops exactly one leading quote, so every text comes back as it was."""

from __future__ import annotations

from typing import Any

import pandas as pd

# A cell starting with one of these is a formula to a spreadsheet program (OWASP, "CSV
# injection"): it is written behind a quote, and so is one starting with the quote itself,
# so that reading back (which drops one leading quote) gives every text exactly.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def spreadsheet_text(value: Any) -> Any:
    """``value`` as written into a CSV: a text a spreadsheet program would run as a formula
    (or one starting with the escape quote) gets a leading ``'``; anything else as it is."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + value
    return value


def holds_text(column: pd.Series) -> bool:
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype)


def texts_where(column: pd.Series, test: str, *args: Any, **kwargs: Any) -> pd.Series:
    """Vectorised ``str.<test>(*args)`` on ``column``'s text cells; False elsewhere (numbers,
    booleans, missing values, a column with no text at all)."""
    if not holds_text(column):
        return pd.Series(False, index=column.index)
    try:
        hits = getattr(column.str, test)(*args, **kwargs)
    except AttributeError:  # an object column that holds no string
        return pd.Series(False, index=column.index)
    return hits.fillna(False).astype(bool)


def escape_column(column: pd.Series) -> pd.Series:
    risky = texts_where(column, "startswith", (*FORMULA_STARTS, ESCAPE))
    return column.where(~risky, ESCAPE + column.astype(str)) if risky.any() else column


def holds_cr(frame: pd.DataFrame) -> bool:
    return any("\r" in str(c) for c in frame.columns) or any(
        texts_where(frame[c], "contains", "\r", regex=False).any() for c in frame.columns)


def unescape_column(column: pd.Series) -> pd.Series:
    quoted = texts_where(column, "startswith", ESCAPE)
    return column.where(~quoted, column.str[1:]) if quoted.any() else column


def unescape_name(name: str) -> str:
    return name[1:] if name.startswith(ESCAPE) else name

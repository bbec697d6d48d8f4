"""Load OHLCV candles from CSV, Parquet or Feather files into one aligned MarketData.

Each file holds one asset; its name gives the asset and the quote currency (``ETH_BTC-5m.csv``:
ETH priced in BTC). Bad data is refused, never repaired: the BadDataError names the file, the
first bad row and the problem. Several files are aligned on the timestamps they all share;
what that dropped is written into ``MarketData.notes`` so it is never silent.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import BadDataError
from core.feeds.base import MarketData
from core.feeds.validation import Candles, RowNaming, format_time, validated_candles

DEFAULT_QUOTE = "USD"
BINANCE_KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base",
    "taker_buy_quote",
    "ignore",
)
_FORMATS = {
    ".csv": "CSV",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".feather": "Feather",
    ".arrow": "Feather",
}
_PAIR = re.compile(r"^([A-Za-z0-9]+)_([A-Za-z0-9]+)$")
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_INTERVAL_TAIL = re.compile(r"(?<=[A-Za-z0-9])_[0-9]+(?:s|m|h|d|w|mo|M)$")
"""``_5m`` ending ``ETH_BTC_5m``: the interval, as in ``ETH_BTC-5m``."""
_PARSER_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_MAX_SYMBOL = 16
_LISTED_DROPS = 5


@dataclass(frozen=True)
class _Source:
    """One input file and what its name says: the asset in it and the currency it is priced in."""

    path: Path
    label: str  # the path as the caller gave it, for messages
    asset: str
    quote: str

    @property
    def name(self) -> str:
        return self.path.name


def load_files(paths: Sequence[str | Path]) -> MarketData:
    """Validated OHLCV from one or more files, aligned on their common timestamps."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise ValueError("paths must name at least one file")
    sources = [_source(path) for path in paths]
    _check_unique_assets(sources)
    _check_one_quote(sources)
    candles = [_read(source) for source in sources]
    return _aligned(sources, candles)


def asset_and_quote(path: str | Path) -> tuple[str, str]:
    """Asset and quote from a file name: ETH_BTC-5m.csv (or ETH_BTC_5m.csv) → ETH in BTC;
    BTCUSDT.csv → BTCUSDT, USD. A run names what it read, so a surprise shows on its first
    line."""
    stem = Path(path).stem
    head = _INTERVAL_TAIL.sub("", stem.split("-")[0])
    pair = _PAIR.match(head)
    if pair:
        return pair[1].upper(), pair[2].upper()
    asset = _NOT_ALPHANUMERIC.sub("", head).upper() or _NOT_ALPHANUMERIC.sub("", stem).upper()
    return asset, DEFAULT_QUOTE


def _source(path: str | Path) -> _Source:
    label = str(path)
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        expected = ", ".join(_FORMATS)
        raise BadDataError(label, f"unsupported file type {path.suffix!r}; expected {expected}")
    if not path.is_file():
        raise BadDataError(label, "no such file")
    asset, quote = asset_and_quote(path)
    for role, symbol in (("asset", asset), ("quote", quote)):
        if not symbol or len(symbol) > _MAX_SYMBOL:
            raise BadDataError(
                label,
                f"the file name gives no usable {role} symbol ({symbol!r}); "
                "name the file like ETH_BTC-5m.csv (asset, quote, interval)",
            )
    return _Source(path=path, label=label, asset=asset, quote=quote)


def _check_unique_assets(sources: list[_Source]) -> None:
    seen: dict[str, _Source] = {}
    for source in sources:
        earlier = seen.setdefault(source.asset, source)
        if earlier is not source:
            raise BadDataError(
                source.label,
                f"asset {source.asset} also comes from {earlier.label}; "
                "give each asset exactly one file",
            )


def _check_one_quote(sources: list[_Source]) -> None:
    quotes = {source.quote for source in sources}
    if len(quotes) > 1:
        listed = ", ".join(f"{source.name} in {source.quote}" for source in sources)
        raise BadDataError(
            ", ".join(source.label for source in sources),
            f"the files are priced in different currencies ({listed}); "
            "prices in different units cannot share a treasury",
        )


def _read(source: _Source) -> Candles:
    if source.path.stat().st_size == 0:
        raise BadDataError(source.label, "the file is empty (0 bytes)")
    kind = _FORMATS[source.path.suffix.lower()]
    if kind == "CSV":
        table, rows = _read_csv(source)
    else:
        table, rows = _read_columnar(source, kind), RowNaming(records=True)
    return validated_candles(table, path=source.label, rows=rows)


def _read_csv(source: _Source) -> tuple[pd.DataFrame, RowNaming]:
    with source.path.open(encoding="utf-8-sig", newline="", errors="replace") as file:
        first_line = file.readline()
    if not first_line.strip():
        raise BadDataError(source.label, "line 1 is blank; expected a header row", row=1)
    has_header = not any(_is_number(field) for field in first_line.split(","))
    try:
        table = pd.read_csv(
            source.path,
            header=0 if has_header else None,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise BadDataError(source.label, "the file is empty") from None
    except pd.errors.ParserError as error:
        raise _parser_error(source, error) from None
    except UnicodeDecodeError as error:
        raise BadDataError(source.label, f"not UTF-8 text ({error.reason})") from None
    if has_header:
        header = next(csv.reader([first_line.rstrip("\r\n")]))
        if len(header) == table.shape[1]:  # pandas renames a repeated name to "close.1"
            table.columns = header  # ...and then the second close column went unseen
    else:
        if table.shape[1] != len(BINANCE_KLINE_COLUMNS):
            raise BadDataError(
                source.label,
                f"no header row, and {table.shape[1]} columns is not a Binance kline export "
                f"({len(BINANCE_KLINE_COLUMNS)} columns); add a header: "
                "date,open,high,low,close,volume",
                row=1,
            )
        table.columns = list(BINANCE_KLINE_COLUMNS)
    return _without_trailing_blank_lines(table), RowNaming(first=2 if has_header else 1)


def _read_columnar(source: _Source, kind: str) -> pd.DataFrame:
    reader = pd.read_parquet if kind == "Parquet" else pd.read_feather
    try:
        table = reader(source.path)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise BadDataError(source.label, f"cannot read as {kind}: {error}") from None
    if not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()  # a time index written by DataFrame.to_parquet
    return table


def _is_number(text: str) -> bool:
    try:
        float(text.strip().strip('"'))
    except ValueError:
        return False
    return True


def _parser_error(source: _Source, error: pd.errors.ParserError) -> BadDataError:
    fields = _PARSER_ERROR.search(str(error))
    if fields is None:
        return BadDataError(source.label, f"cannot parse the CSV: {error}")
    expected, line, seen = fields.groups()
    return BadDataError(
        source.label, f"the line has {seen} fields, expected {expected}", row=int(line)
    )


def _without_trailing_blank_lines(table: pd.DataFrame) -> pd.DataFrame:
    filled = np.flatnonzero(table.notna().any(axis=1).to_numpy())
    end = int(filled[-1]) + 1 if filled.size else 0
    return table.iloc[:end]


def _aligned(sources: list[_Source], candles: list[Candles]) -> MarketData:
    names = [source.name for source in sources]
    if len(candles) == 1:
        times = candles[0].timestamps
        read_as = f"{sources[0].asset} in {sources[0].quote}"
        notes = (f"loaded {names[0]} as {read_as}: {_span(times)}",)
        picks = [np.ones(len(times), dtype=bool)]
        common = times
    else:
        common = reduce(np.intersect1d, (c.timestamps for c in candles))
        if common.size == 0:
            spans = "; ".join(f"{n} {_span(c.timestamps)}" for n, c in zip(names, candles))
            raise BadDataError(
                ", ".join(s.label for s in sources),
                f"the files share no timestamps, so they cannot be aligned ({spans})",
            )
        picks = [np.isin(c.timestamps, common) for c in candles]
        notes = _alignment_notes(names, candles, picks, common,
                                 read_as=f"{', '.join(s.asset for s in sources)} in "
                                         f"{sources[0].quote}")

    notes += _gap_notes(common)

    def stacked(field: str) -> np.ndarray:
        return np.vstack([getattr(c, field)[pick] for c, pick in zip(candles, picks)])

    return MarketData(
        assets=tuple(source.asset for source in sources),
        timestamps=np.ascontiguousarray(common, dtype=np.int64),
        open=stacked("open"),
        high=stacked("high"),
        low=stacked("low"),
        close=stacked("close"),
        volume=stacked("volume"),
        source=", ".join(names),
        quote=sources[0].quote,
        notes=notes,
    )


def _alignment_notes(names, candles, picks, common, *, read_as: str) -> tuple[str, ...]:
    union = reduce(np.union1d, (c.timestamps for c in candles))
    dropped = np.setdiff1d(union, common)
    head = f"aligned {len(names)} files ({read_as}) on {common.size:,} common bars"
    if dropped.size == 0:
        return (f"{head}; no bars dropped",)
    per_file = ", ".join(
        f"{name} {int((~pick).sum()):,}" for name, pick in zip(names, picks) if not pick.all()
    )
    shown = ", ".join(format_time(ns) for ns in dropped[:_LISTED_DROPS])
    more = f" and {dropped.size - _LISTED_DROPS:,} more" if dropped.size > _LISTED_DROPS else ""
    return (
        f"{head}; dropped {dropped.size:,} bars present in only some files: {per_file}",
        f"dropped bars at {shown}{more}",
    )


def _gap_notes(times: np.ndarray) -> tuple[str, ...]:
    """Missing bars inside the timeline the run steps through: it steps over them as if
    consecutive, so indicators and metrics read across the gap. Said, never silent."""
    if times.size < 3:
        return ()
    steps = np.diff(times)
    bar = int(np.median(steps))
    gaps = np.flatnonzero(steps > bar * 3 // 2)
    if gaps.size == 0:
        return ()
    longest = int(gaps[np.argmax(steps[gaps])])
    note = (f"{gaps.size:,} {'gap' if gaps.size == 1 else 'gaps'} in the {_duration(bar)} bars, "
            "the longest "
            f"{_duration(int(steps[longest]))} after {format_time(times[longest])}: "
            "the run steps over them as if the bars were consecutive")
    return (note,)


def _duration(ns: int) -> str:
    minutes = ns // 60_000_000_000
    if minutes == 0:
        return f"{ns / 1e9:g}s"
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)


def _span(times: np.ndarray) -> str:
    return f"{times.size:,} bars {format_time(times[0])} → {format_time(times[-1])}"

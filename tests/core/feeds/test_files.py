"""Loading candle files: the real shared data, other formats, and every kind of bad data."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import BadDataError
from core.feeds.files import asset_and_quote, load_files

FIVE_MINUTE_FILES = (
    "ETH_BTC-5m.csv",
    "LTC_BTC-5m.csv",
    "XMR_BTC-5m.csv",
    "DASH_BTC-5m.csv",
    "ETC_BTC-5m.csv",
)
HEADER = "date,open,high,low,close,volume"
GOOD_ROWS = (  # file lines 2..6
    "2024-01-01T00:00:00Z,100,110,95,105,10",
    "2024-01-01T01:00:00Z,105,112,101,108,12",
    "2024-01-01T02:00:00Z,108,109,99,100,9",
    "2024-01-01T03:00:00Z,100,104,97,103,11",
    "2024-01-01T04:00:00Z,103,106,102,104,8",
)
HOUR_NS = 3_600 * 10**9
FIRST_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00Z


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real candles in <repo root>/../shared/data."""
    path = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    assert path.is_dir(), f"shared market data not found at {path}"
    return path


def write_csv(directory: Path, name: str, lines, *, edits=None) -> Path:
    """A CSV of ``lines`` (header first) with ``edits`` {file line: {column: text}} applied."""
    rows = [line.split(",") for line in lines]
    for line_number, changes in (edits or {}).items():
        for column, text in changes.items():
            rows[line_number - 1][rows[0].index(column)] = text
    path = directory / name
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    return path


def dates_in(path: Path) -> set[str]:
    with path.open(newline="") as file:
        return {row["date"] for row in csv.DictReader(file)}


def test_one_real_file_loads_with_its_asset_quote_and_values(shared_data):
    data = load_files([shared_data / "ETH_BTC-5m.csv"])
    assert data.assets == ("ETH",)
    assert data.quote == "BTC"
    assert data.source == "ETH_BTC-5m.csv"
    assert data.n_bars == 5_760
    assert data.notes == (
        "loaded ETH_BTC-5m.csv as ETH in BTC: 5,760 bars 2018-01-10T04:55Z → 2018-01-30T04:50Z",
    )
    first = data.bar("ETH", 0)
    assert (first.open, first.high, first.low, first.close) == (
        0.0984,
        0.0994766,
        0.09828605,
        0.0994766,
    )
    assert first.volume == 1820.54447418
    assert data.timestamps[0] == pd.Timestamp("2018-01-10T04:55Z").value
    assert data.bar_seconds() == 300
    assert data.close.dtype == np.float64 and data.timestamps.dtype == np.int64


def test_five_real_files_align_on_common_bars_and_say_what_was_dropped(shared_data):
    paths = [shared_data / name for name in FIVE_MINUTE_FILES]
    data = load_files(paths)
    per_file = {path.name: dates_in(path) for path in paths}
    common = set.intersection(*per_file.values())
    dropped = set.union(*per_file.values()) - common

    assert data.assets == ("ETH", "LTC", "XMR", "DASH", "ETC")
    assert data.quote == "BTC"
    assert data.source == ", ".join(FIVE_MINUTE_FILES)
    assert data.n_bars == len(common) == 5_755
    assert data.close.shape == (5, 5_755)
    assert np.all(np.diff(data.timestamps) > 0)
    summary, listing, gaps = data.notes
    assert gaps.startswith("4 gaps in the 5m bars, the longest 10m after ")  # 4 bars dropped
    assert summary.startswith(
        f"aligned 5 files (ETH, LTC, XMR, DASH, ETC in BTC) on 5,755 common bars; dropped {len(dropped)} bars present in only some"
    )
    for name, dates in per_file.items():
        assert f"{name} {len(dates - common)}" in summary
    for date in dropped:
        assert date.replace(":00Z", "Z") in listing


def test_aligned_values_match_each_file_loaded_alone(shared_data):
    paths = [shared_data / name for name in FIVE_MINUTE_FILES]
    together = load_files(paths)
    for row, path in enumerate(paths):
        alone = load_files([path])
        keep = np.isin(alone.timestamps, together.timestamps)
        assert np.array_equal(together.close[row], alone.close[0, keep])
        assert np.array_equal(together.volume[row], alone.volume[0, keep])


def test_files_quoted_in_different_currencies_are_refused(shared_data):
    with pytest.raises(BadDataError) as caught:
        load_files([shared_data / "ETH_BTC-5m.csv", shared_data / "XRP_ETH-1m.csv"])
    message = str(caught.value)
    assert "ETH_BTC-5m.csv in BTC" in message and "XRP_ETH-1m.csv in ETH" in message
    assert "different units" in message


def test_two_files_for_the_same_asset_are_refused(shared_data, tmp_path):
    copy = shutil.copy(shared_data / "ETH_BTC-5m.csv", tmp_path / "ETH_BTC-1h.csv")
    with pytest.raises(BadDataError) as caught:
        load_files([shared_data / "ETH_BTC-5m.csv", copy])
    assert "ETH_BTC-5m.csv" in str(caught.value) and "ETH_BTC-1h.csv" in str(caught.value)
    assert "asset ETH" in str(caught.value)


def test_a_file_without_candle_columns_names_what_is_missing(shared_data):
    with pytest.raises(BadDataError) as caught:
        load_files([shared_data / "XRP_USDT-8h-funding_rate.csv"])
    assert str(caught.value).endswith(
        "XRP_USDT-8h-funding_rate.csv: missing columns: open, high, low, close, volume; "
        "found: date, funding_rate"
    )


def test_files_that_share_no_timestamps_are_refused(shared_data, tmp_path):
    later = write_csv(tmp_path, "SOL_BTC-1h.csv", [HEADER, *GOOD_ROWS])
    with pytest.raises(BadDataError) as caught:
        load_files([shared_data / "ETH_BTC-5m.csv", later])
    assert "the files share no timestamps" in str(caught.value)
    assert "ETH_BTC-5m.csv 5,760 bars 2018-01-10T04:55Z" in str(caught.value)
    assert "SOL_BTC-1h.csv 5 bars 2024-01-01T00:00Z → 2024-01-01T04:00Z" in str(caught.value)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ETH_BTC-5m.csv", ("ETH", "BTC")),
        ("ETH_BTC_5m.csv", ("ETH", "BTC")),
        ("eth_usdt_1h-binance.csv", ("ETH", "USDT")),
        ("xrp_usdt-1h-futures.parquet", ("XRP", "USDT")),
        ("BTCUSDT-1h.csv", ("BTCUSDT", "USD")),
        ("sol prices.feather", ("SOLPRICES", "USD")),
    ],
)
def test_asset_and_quote_come_from_the_file_name(name, expected):
    assert asset_and_quote(name) == expected


@pytest.mark.parametrize(
    "line, column, text, problem",
    [
        (4, "close", "-3.1", "row 4: close is -3.1, prices must be positive"),
        (3, "open", "0", "row 3: open is 0, prices must be positive"),
        (5, "volume", "-2", "row 5: volume is -2, volume cannot be negative"),
        (4, "close", "abc", "row 4: close is 'abc', not a number"),
        (6, "close", "inf", "row 6: close is inf, not a finite number"),
        (3, "date", "yesterday", "row 3: date is 'yesterday', not a timestamp"),
        (6, "high", "", "row 6: high is missing (empty or NaN)"),
        (2, "low", "NaN", "row 2: low is missing (empty or NaN)"),
        (4, "high", "90", "row 4: high 90 is below low 99"),
        (2, "high", "104", "row 2: high 104 is below close 105"),
        (3, "low", "106", "row 3: low 106 is above open 105"),
        (
            4,
            "date",
            "2024-01-01T01:00:00Z",
            "row 4: duplicate timestamp 2024-01-01T01:00Z (same as row 3)",
        ),
        (
            5,
            "date",
            "2024-01-01T00:30:00Z",
            "row 5: timestamp 2024-01-01T00:30Z is before row 4's 2024-01-01T02:00Z; "
            "rows must be sorted by time",
        ),
    ],
)
def test_bad_csv_row_is_refused_naming_file_row_and_problem(tmp_path, line, column, text, problem):
    path = write_csv(tmp_path, "BAD_USD-1h.csv", [HEADER, *GOOD_ROWS], edits={line: {column: text}})
    with pytest.raises(BadDataError) as caught:
        load_files([path])
    assert str(caught.value) == f"{path} {problem}"
    assert caught.value.row == line


def test_the_first_bad_row_is_reported(tmp_path):
    edits = {5: {"close": "-1"}, 3: {"volume": "oops"}}
    path = write_csv(tmp_path, "BAD.csv", [HEADER, *GOOD_ROWS], edits=edits)
    with pytest.raises(BadDataError, match=r"BAD\.csv row 3: volume is 'oops', not a number"):
        load_files([path])


def test_empty_files_are_refused(tmp_path):
    zero_bytes = tmp_path / "ZERO.csv"
    zero_bytes.write_bytes(b"")
    with pytest.raises(BadDataError, match=r"ZERO\.csv: the file is empty \(0 bytes\)"):
        load_files([zero_bytes])
    header_only = write_csv(tmp_path, "HEADER.csv", [HEADER])
    with pytest.raises(BadDataError, match=r"HEADER\.csv: no data rows"):
        load_files([header_only])


def test_a_missing_column_is_named_with_the_columns_found(tmp_path):
    lines = [",".join(line.split(",")[:5]) for line in [HEADER, *GOOD_ROWS]]
    path = write_csv(tmp_path, "NOVOL.csv", lines)
    with pytest.raises(BadDataError) as caught:
        load_files([path])
    assert str(caught.value) == (
        f"{path}: missing columns: volume; found: date, open, high, low, close"
    )


@pytest.mark.parametrize("header", ["date,open,high,low,close,close,volume",
                                    "date,open,high,low,close,Close,volume"])
def test_a_column_named_twice_is_refused(tmp_path, header):
    """pandas renamed the second `close` to `close.1`, and the file loaded on the first."""
    lines = [header, *(",".join([*row.split(",")[:5], "5", row.split(",")[5]])
                       for row in GOOD_ROWS)]
    path = write_csv(tmp_path, "DUP.csv", lines)
    with pytest.raises(BadDataError) as caught:
        load_files([path])
    assert str(caught.value) == f"{path}: columns appear more than once: close"


def test_missing_bars_inside_a_file_are_said(tmp_path):
    """The run steps over a gap as if the bars were consecutive: it used to say nothing."""
    rows = [row for k, row in enumerate(GOOD_ROWS) if k not in (2, 3)]  # 02:00 and 03:00 gone
    rows += ["2024-01-01T05:00:00Z,104,105,100,101,7", "2024-01-01T06:00:00Z,101,102,99,100,6"]
    data = load_files([write_csv(tmp_path, "SOL_USD-1h.csv", [HEADER, *rows])])
    assert data.notes[-1] == ("1 gap in the 1h bars, the longest 3h after 2024-01-01T01:00Z: the "
                              "run steps over them as if the bars were consecutive")
    whole = load_files([write_csv(tmp_path, "ETH_USD-1h.csv", [HEADER, *GOOD_ROWS])])
    assert not any("gaps" in note for note in whole.notes)


def test_a_blank_line_inside_the_data_is_refused_but_trailing_ones_are_not(tmp_path):
    inside = tmp_path / "GAP.csv"
    inside.write_text("\n".join([HEADER, *GOOD_ROWS[:2], "", *GOOD_ROWS[2:]]) + "\n")
    with pytest.raises(BadDataError, match=r"GAP\.csv row 4: the row is empty"):
        load_files([inside])
    trailing = tmp_path / "TAIL.csv"
    trailing.write_text("\n".join([HEADER, *GOOD_ROWS]) + "\n\n\n")
    assert load_files([trailing]).n_bars == 5


def test_a_row_with_too_many_fields_is_refused(tmp_path):
    path = write_csv(tmp_path, "WIDE.csv", [HEADER, *GOOD_ROWS])
    lines = path.read_text().splitlines()
    lines[3] += ",7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadDataError, match=r"WIDE\.csv row 4: the line has 7 fields, expected 6"):
        load_files([path])


def test_column_names_are_case_insensitive_and_epoch_seconds_are_read(tmp_path):
    lines = ["Timestamp,Open,HIGH,low,Close,Volume"]
    for k, row in enumerate(GOOD_ROWS):
        lines.append(",".join([str(FIRST_NS // 10**9 + 3_600 * k), *row.split(",")[1:]]))
    data = load_files([write_csv(tmp_path, "SOL_USD.csv", lines)])
    assert data.timestamps.tolist() == [FIRST_NS + k * HOUR_NS for k in range(5)]
    assert data.close[0].tolist() == [105, 108, 100, 103, 104]


@pytest.mark.parametrize("unit_ns", [10**6, 10**3])
def test_headerless_binance_klines_are_read_in_ms_or_us(tmp_path, unit_ns):
    lines = []
    for k, row in enumerate(GOOD_ROWS):
        open_time = (FIRST_NS + k * HOUR_NS) // unit_ns
        close_time = open_time + HOUR_NS // unit_ns - 1
        prices = row.split(",")[1:]
        extra = [str(close_time), "1000", "42", "5", "500", "0"]
        lines.append(",".join([str(open_time), *prices, *extra]))
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("\n".join(lines) + "\n")
    data = load_files([path])
    assert data.assets == ("BTCUSDT",) and data.quote == "USD"
    assert data.timestamps.tolist() == [FIRST_NS + k * HOUR_NS for k in range(5)]
    assert data.volume[0].tolist() == [10, 12, 9, 11, 8]


def test_a_bad_binance_row_is_numbered_from_line_one(tmp_path):
    lines = [
        ",".join([str((FIRST_NS + k * HOUR_NS) // 10**6), *row.split(",")[1:], *"000000"])
        for k, row in enumerate(GOOD_ROWS)
    ]
    lines[2] = lines[2].replace(",99,", ",-99,")
    path = tmp_path / "ETHUSDT-1h.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadDataError, match=r"ETHUSDT-1h\.csv row 3: low is -99, prices must be"):
        load_files([path])


def test_headerless_file_that_is_not_a_kline_export_is_refused(tmp_path):
    path = write_csv(tmp_path, "RAW.csv", list(GOOD_ROWS))
    with pytest.raises(BadDataError, match=r"RAW\.csv row 1: no header row, and 6 columns"):
        load_files([path])


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".feather", ".arrow"])
def test_columnar_files_round_trip_the_real_candles(shared_data, tmp_path, suffix):
    from_csv = load_files([shared_data / "ETH_BTC-5m.csv"])
    table = pd.read_csv(shared_data / "ETH_BTC-5m.csv")
    table["date"] = pd.to_datetime(table["date"], utc=True)
    path = tmp_path / f"ETH_BTC-5m{suffix}"
    if suffix in (".parquet", ".pq"):
        table.to_parquet(path)
    else:
        table.to_feather(path)
    loaded = load_files([path])
    assert loaded.assets == ("ETH",) and loaded.quote == "BTC"
    for name in ("timestamps", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(loaded, name), getattr(from_csv, name)), name


def test_parquet_with_a_time_index_and_iso_strings_loads(tmp_path):
    table = pd.DataFrame(
        [row.split(",") for row in GOOD_ROWS], columns=HEADER.split(",")
    ).astype({c: float for c in HEADER.split(",")[1:]})
    as_index = table.assign(date=pd.to_datetime(table["date"])).set_index("date")
    as_index.to_parquet(tmp_path / "A_USD.parquet")
    table.to_parquet(tmp_path / "B_USD.parquet")
    data = load_files([tmp_path / "A_USD.parquet", tmp_path / "B_USD.parquet"])
    assert data.timestamps.tolist() == [FIRST_NS + k * HOUR_NS for k in range(5)]
    assert np.array_equal(data.close[0], data.close[1])
    assert data.notes == ("aligned 2 files (A, B in USD) on 5 common bars; no bars dropped",)


def test_a_bad_parquet_record_is_named_by_its_index(tmp_path):
    table = pd.DataFrame({
        "open_time": [FIRST_NS // 10**6 + k * 3_600_000 for k in range(5)],
        "open": [1.0] * 5,
        "high": [2.0] * 5,
        "low": [0.5] * 5,
        "close": [1.5, 1.5, 1.5, -1.5, 1.5],
        "volume": [3.0] * 5,
    })
    path = tmp_path / "ADA_USD.parquet"
    table.to_parquet(path)
    with pytest.raises(BadDataError) as caught:
        load_files([path])
    assert str(caught.value) == (
        f"{path} row 3: close is -1.5, prices must be positive (0-based record index)"
    )


def test_an_unreadable_parquet_file_is_refused(tmp_path):
    path = tmp_path / "JUNK.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(BadDataError, match=r"JUNK\.parquet: cannot read as Parquet"):
        load_files([path])


def test_unsupported_extensions_and_missing_files_are_refused(tmp_path):
    with pytest.raises(BadDataError, match=r"prices\.txt: unsupported file type '\.txt'"):
        load_files([tmp_path / "prices.txt"])
    with pytest.raises(BadDataError, match=r"GONE\.csv: no such file"):
        load_files([tmp_path / "GONE.csv"])

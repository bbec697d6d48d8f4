"""Writable and read-only inputs share one compiled kernel: arrays from Ray's object store are
read only, the caller's own usually are not, and each mix used to cost Numba another compile
(about 10 s of a fresh clone's first test run). The caller's array is left as it was."""

from __future__ import annotations

import numpy as np

from core.kernels import _core, indicators


def test_a_read_only_and_a_writable_series_run_the_same_compiled_kernel():
    writable = np.linspace(1.0, 2.0, 50)
    read_only = writable.copy()
    read_only.flags.writeable = False
    expected = indicators.sma(writable, 5)
    np.testing.assert_array_equal(indicators.sma(read_only, 5), expected)
    assert len(_core.series_1d.signatures) == 1, _core.series_1d.signatures
    assert writable.flags.writeable  # a read-only view was passed on, not the caller's array
    expected[0] = 0.0  # what the caller gets back is its own to write


def test_mixed_inputs_of_one_indicator_run_one_compiled_kernel():
    close = np.linspace(1.0, 2.0, 50)
    volume = np.full(50, 10.0)
    volume.flags.writeable = False
    indicators.obv(close, volume)
    indicators.obv(close.copy(), volume.copy())
    assert len(_core.obv_into.signatures) == 1, _core.obv_into.signatures

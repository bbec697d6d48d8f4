"""Read-only mappings for a backtest's snapshots that build each asset's value when first read.

A woken backtest bar over 50 assets used to validate 50 Bars, build 100 indicator dicts and 50
volatilities, of which a strategy and the governance read one or two assets'. These mappings
hold the bar's precomputed rows instead and build an asset's value on first access (then keep
it), so what is read is exactly what the eager snapshot held and what is not read costs nothing.
They pickle, compare and serialise (``MarketSnapshot``'s serializer) as the plain dicts they
stand for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

V = TypeVar("V")


class LazyRows(Mapping[str, V]):
    """``{asset: build(i)}`` over ``assets``, each value built on first read."""

    __slots__ = ("_assets", "_build", "_built", "_index")

    def __init__(self, assets: Sequence[str], index: Mapping[str, int],
                 build: Callable[[int], V]) -> None:
        self._assets = assets
        self._index = index
        self._build = build
        self._built: dict[str, V] = {}

    def __getitem__(self, asset: str) -> V:
        built = self._built.get(asset)
        if built is None and asset not in self._built:
            built = self._build_once(asset)
        return built

    def _build_once(self, asset: str) -> V:
        built = self._built[asset] = self._build(self._index[asset])  # KeyError: not ours
        return built

    def get(self, asset: str, default: Any = None) -> Any:  # Mapping's goes through KeyError
        if asset in self._index:
            return self[asset]
        return default

    def __contains__(self, asset: object) -> bool:
        return asset in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._assets)

    def __len__(self) -> int:
        return len(self._assets)

    def __repr__(self) -> str:
        return f"LazyRows({dict(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # a copy elsewhere is the plain dict
        return dict, (dict(self),)


class BarRows(LazyRows):
    """A bar's ``Bar`` per asset, built on first read; ``closes()`` without building any."""

    __slots__ = ("_closes",)

    def __init__(self, assets: Sequence[str], index: Mapping[str, int],
                 build: Callable[[int], V], closes: Callable[[], dict[str, float]]) -> None:
        super().__init__(assets, index, build)
        self._closes = closes

    def closes(self) -> dict[str, float]:
        """Each asset's close, the floats its Bar would hold."""
        return self._closes()

"""Dashboard: total value, PnL today and overall, the equity curve, allocation against target
(base yield / tactical layers, each asset and protocol) as bars, the market phase, fear/greed
and the kill switch. Read from the decision log; with a system attached (``--address``) the
portfolio comes from the treasury actor itself. A value nothing records is shown as n/a."""

from __future__ import annotations

from dataclasses import replace

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Sparkline, Static
from textual.worker import Worker

from state.kill_switch import SwitchCommand
from tui.portfolio import DashboardView, Holding, allocation

REFRESH_S = 1.0
COLUMNS_WIDTH = 52
"""Cells an allocation line takes besides its bar (name, shares, value, gaps, padding, scrollbar)."""


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _pnl(value: float | None, base: float | None) -> str:
    if value is None:
        return "n/a"
    share = f" ({value / base:+.2%})" if base else ""
    return f"{value:+,.2f}{share}"


def share_bar(share: float, target: float | None, width: int) -> str:
    """A bar of ``share`` (0..1) in ``width`` cells, with ``┃`` where the target falls."""
    filled = max(0, min(width, round(share * width)))
    cells = ["█"] * filled + ["░"] * (width - filled)
    if target is not None:
        cells[max(0, min(width - 1, round(target * width) - 1))] = "┃"
    return "".join(cells)


def allocation_lines(title: str, holdings: list[Holding], *, bar_width: int) -> list[str]:
    """A header and one line per holding: share now, target share, value, and the bar."""
    lines = [f"{title:<18} {'now':>6} {'target':>6} {'value USD':>12}  0%{'100%':>{bar_width - 2}}"]
    for h in holdings:
        target = "n/a" if h.target_share is None else f"{h.target_share:.1%}"
        lines.append(f"{h.name[:18]:<18} {h.share:>6.1%} {target:>6} {h.value_usd:>12,.2f}  "
                     f"{share_bar(h.share, h.target_share, bar_width)}")
    return lines


def fear_greed_word(mood: float) -> str:
    return ("extreme fear" if mood <= 25 else "fear" if mood < 45 else "neutral" if mood <= 55
            else "greed" if mood < 75 else "extreme greed")


class DashboardScreen(Screen):
    CSS_PATH = "dashboard.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._read: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the decision log…", markup=False, id="totals")
        yield Static(markup=False, id="market")
        yield Static(markup=False, id="switch")
        yield Static(markup=False, id="equity-label")
        yield Sparkline([], id="equity")
        with VerticalScroll(id="allocation-box"):
            yield Static(markup=False, id="allocation")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()
        self.set_interval(REFRESH_S, self.refresh_view)

    def refresh_view(self) -> None:
        """Read again, unless the last read is still waiting (a slow treasury actor)."""
        if self._read is None or self._read.is_finished:
            self._read = self._load()

    @work(thread=True, group="dashboard")
    def _load(self) -> None:
        store, link = self.app.store, self.app.agents
        view = store.dashboard()
        if link is not None:
            live = link.portfolio()
            if live is not None:
                view = replace(view, portfolio=live, source=f"treasury actor at {link.address}")
        self.app.call_from_thread(self._show, view, store.switch_state())

    def _show(self, view: DashboardView, switch: SwitchCommand | None) -> None:
        portfolio = view.portfolio
        initial = portfolio.initial_equity_usd if portfolio else None
        as_of = (f"tick {portfolio.tick}, {portfolio.ts:%Y-%m-%d %H:%MZ}" if portfolio
                 else "nothing logged yet")
        self.query_one("#totals", Static).update(
            f"total {_usd(view.total_usd)} USD │ PnL today "
            f"{_pnl(view.pnl_today_usd, view.day_start_equity_usd)} │ overall "
            f"{_pnl(view.pnl_overall_usd, initial)}\nportfolio as of {as_of}, from the "
            f"{view.source}")
        self._show_market(view, switch)
        self._show_equity(view)
        self._show_allocation(view)

    def _show_equity(self, view: DashboardView) -> None:
        points = view.equity
        label = self.query_one("#equity-label", Static)
        if points:
            values = [p.equity_usd for p in points]
            label.update(f"equity, {len(points)} logged marks, tick {points[0].tick}..{points[-1].tick}"
                         f": low {min(values):,.0f}, high {max(values):,.0f}, last "
                         f"{values[-1]:,.0f}")
        else:
            label.update("equity: n/a (no portfolio logged yet)")
        self.query_one("#equity", Sparkline).data = [p.equity_usd for p in points]

    def _show_allocation(self, view: DashboardView) -> None:
        layers, holdings = allocation(view, self.app.regime)
        if not holdings:
            text = "allocation: n/a (no portfolio logged yet)"
        else:
            bar_width = max(8, min(40, self.app.size.width - COLUMNS_WIDTH))
            text = "\n".join(allocation_lines("layer", layers, bar_width=bar_width) + [""]
                             + allocation_lines("asset / protocol", holdings,
                                                bar_width=bar_width))
            if self.app.regime is None:
                text += "\ntargets: n/a (treasury_regime is not enabled in this config)"
        self.query_one("#allocation", Static).update(text)

    def _show_market(self, view: DashboardView, switch: SwitchCommand | None) -> None:
        market = view.market
        if market is None:
            mood_text = "market phase n/a │ fear/greed n/a"
        else:
            greed = ("n/a" if market.fear_greed is None
                     else f"{market.fear_greed:.0f} ({fear_greed_word(market.fear_greed)})")
            mood_text = f"market phase {market.phase} (tick {market.tick}) │ fear/greed {greed}"
        self.query_one("#market", Static).update(mood_text)
        engaged = switch is not None and switch.engaged
        if engaged:
            text = f"kill switch ENGAGED by {switch.by} at {switch.at:%Y-%m-%d %H:%M:%SZ}"
        else:
            text = "kill switch OFF"
        widget = self.query_one("#switch", Static)
        widget.update(text)
        widget.set_class(engaged, "engaged")

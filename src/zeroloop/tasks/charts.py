"""Small line charts as PNG bytes (matplotlib, Agg backend) for the dashboard's artifacts.

A chart is a row of panels; a panel holds series of (x, y) points with an optional
band (low, high) for an interval. `png_data_uri` makes the bytes an `<img>`-able data
URI, which the Prefect UI renders inside markdown artifacts.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # no display: charts are rendered in flows and workers

from matplotlib import ticker  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


@dataclass(frozen=True)
class Series:
    """One line. x, y: equal-length sequences (y may hold None for a missing point).

    low / high: the interval around y (same length) drawn as a band, or empty.
    """

    label: str
    x: Sequence[float]
    y: Sequence[float | None]
    low: Sequence[float | None] = ()
    high: Sequence[float | None] = ()
    marker: str | None = None  # None: markers only when there are few points
    linestyle: str = "-"


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    xlabel: str = "generation"
    ylim: tuple[float, float] | None = None
    percent: bool = False  # y in 0..1 shown as %
    vlines: Sequence[float] = ()  # e.g. generation boundaries on a step axis


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _draw(ax: Axes, panel: Panel) -> None:
    drawn = False
    xmin, xmax = math.inf, -math.inf
    for s in panel.series:
        pts = [(x, y) for x, y in zip(s.x, s.y, strict=True) if _finite(y)]
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        # A dense curve reads best as a bare line; a few points need markers to be seen at all.
        marker = s.marker or ("o" if len(pts) < 12 else "")
        (line,) = ax.plot(xs, ys, marker=marker, markersize=3.5, linestyle=s.linestyle, label=s.label)
        if s.low and s.high:
            band = [
                (x, y, lo, hi)
                for x, y, lo, hi in zip(s.x, s.y, s.low, s.high, strict=True)
                if _finite(y) and _finite(lo) and _finite(hi)
            ]
            if band:
                bx, by, blo, bhi = zip(*band, strict=True)
                err = [
                    [y - lo for y, lo in zip(by, blo, strict=True)],
                    [hi - y for y, hi in zip(by, bhi, strict=True)],
                ]
                ax.errorbar(bx, by, yerr=err, fmt="none", ecolor=line.get_color(), elinewidth=1, capsize=3)
                if len(band) > 1:
                    ax.fill_between(bx, blo, bhi, color=line.get_color(), alpha=0.15, linewidth=0)
        xmin = min(xmin, min(xs))
        xmax = max(xmax, max(xs))
        drawn = True
    for v in panel.vlines:
        ax.axvline(v, color="#999999", linewidth=0.6, linestyle=":")
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    if panel.ylim:
        ax.set_ylim(*panel.ylim)
    if panel.percent:
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))
    if panel.xlabel == "generation" and drawn:
        # Whole generations only, with room around a lone point.
        ax.set_xlim(xmin - 0.5, xmax + 0.5)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=10, integer=True, min_n_ticks=1))
    if drawn:
        ax.legend(fontsize=7, loc="best", frameon=False)
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes, color="#888888")


def chart_png(panels: Sequence[Panel], width: float = 9.0, height: float = 2.8, dpi: int = 90) -> bytes:
    """The panels side by side as one PNG image (bytes)."""
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        _draw(ax, panel)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def data_uri(content: bytes | str, mime: str) -> str:
    """`data:MIME;base64,...` for an image embedded in markdown."""
    raw = content.encode() if isinstance(content, str) else content
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def png_data_uri(png: bytes) -> str:
    return data_uri(png, "image/png")

"""Results files shared by the benchmarks: results.json, a markdown table, PNG line plots."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import transformers

Format = Callable[[object], str]


@dataclass(frozen=True)
class Column:
    title: str
    key: str
    format: Format = str


def fixed(digits: int) -> Format:
    return lambda value: f"{value:.{digits}f}"


def scaled(factor: float, digits: int) -> Format:
    return lambda value: f"{value * factor:.{digits}f}"


def command_line() -> str:
    return shlex.join(["specvlm", *sys.argv[1:]]) if Path(sys.argv[0]).name == "specvlm" else shlex.join(sys.argv)


def environment() -> dict:
    return {"command": command_line(), "torch": torch.__version__, "transformers": transformers.__version__}


def write_json(path: Path, rows: list[dict], meta: dict) -> None:
    path.write_text(json.dumps({"rows": rows, "meta": meta}, indent=2) + "\n")


def markdown_table(columns: list[Column], rows: list[dict]) -> str:
    def cell(row: dict, column: Column) -> str:
        value = row.get(column.key)
        return "–" if value is None else column.format(value)

    lines = ["| " + " | ".join(c.title for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Series:
    label: str
    x: list[float]
    y: list[float]


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    series: list[Series]


def plot_panels(path: Path, xlabel: str, panels: list[Panel], log_x: bool = False) -> None:
    """One PNG with the panels side by side; points are marked so single-point series show."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for series in panel.series:
            ax.plot(series.x, series.y, marker="o", label=series.label)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.set_title(panel.title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        if panel.series:
            ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def cache_description(cache) -> str:
    """Which KV cache the engine's forward passes used, e.g. "DynamicCache of GrowableLayer"."""
    return f"{type(cache).__name__} of {type(cache.layers[0]).__name__}"

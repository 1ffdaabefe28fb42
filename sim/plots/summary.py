"""The one-run summary figure: pain, herniation volume, macrophages and fragment cytokines against time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io.store import save_figure  # noqa: E402


def literal(text: object) -> str:
    """``text`` as matplotlib prints it verbatim (a user's ``$`` would otherwise start mathtext; control
    characters have no glyph and are shown as ``?``)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text)).replace("$", r"\$")


__all__ = ["plot_run", "legend_above", "PHENOTYPE_COLORS", "CYTOKINE_LABELS", "PAIN_LABEL"]

#: y label of every pain axis
PAIN_LABEL = "leg pain (VAS 0-100)"

PHENOTYPE_COLORS = {"M0": "#7f7f7f", "M1": "#d62728", "M2": "#1f77b4"}
CYTOKINE_LABELS = {
    "tnf": "TNF-α",
    "il1b": "IL-1β",
    "il6": "IL-6",
    "il8": "IL-8",
    "il10": "IL-10",
    "tgfb": "TGF-β",
    "chemo": "chemoattractant",
    "mmp": "MMP",
}
_CYTO_COLORS = {
    "tnf": "#d62728",
    "il1b": "#ff7f0e",
    "il6": "#e377c2",
    "il8": "#8c564b",
    "il10": "#1f77b4",
    "tgfb": "#17becf",
}


def legend_above(ax, handles=None, labels=None, ncol: int = 3, **kwargs) -> None:
    """A frameless legend in rows between the axes and its title, so it never covers data.

    Call it after ``ax.set_title``: the title is raised by the legend's height.
    """
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    kwargs = {"fontsize": 8, "frameon": False, "borderaxespad": 0.2, "columnspacing": 1.2, "handlelength": 1.8} | kwargs
    ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, **kwargs)
    rows = -(-len(handles) // ncol)
    ax.set_title(ax.get_title(), pad=6 + 13 * rows * kwargs["fontsize"] / 8)


def plot_run(ts: pd.DataFrame, manifest: dict[str, Any], path: str | Path) -> Path:
    """Draw ``summary.png`` from a run's timeseries and manifest."""
    scen = manifest["scenario"]
    patient = scen["patient"]
    day = ts["day"].to_numpy()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), layout="constrained", sharex=True)

    ax = axes[0, 0]
    ax.plot(day, ts["pain_vas"], color="k", lw=2, label="leg pain (VAS)")
    ax.set_ylim(0, 100)
    ax.set_ylabel(PAIN_LABEL)
    ax.set_title("Pain")
    ax2 = ax.twinx()
    ax2.plot(day, ts["compression"], color="#9467bd", lw=1, ls="--", label="root compression C")
    ax2.plot(day, ts["sensitization"], color="#d62728", lw=1, ls=":", label="sensitization S")
    ax2.set_ylabel("compression C, sensitization S (-)")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    legend_above(ax, h1 + h2, l1 + l2, ncol=3)

    ax = axes[0, 1]
    ax.plot(day, ts["herniation_volume_mm3"], color="#2ca02c", lw=2)
    ax.set_ylabel("herniation volume (mm³)")
    ax.set_ylim(bottom=0)
    ax.set_title("Resorption")
    v0 = ts["herniation_volume_mm3"].iloc[0]
    if v0 > 0:
        sec = ax.secondary_yaxis("right", functions=(lambda v: 100 * v / v0, lambda p: p * v0 / 100))
        sec.set_ylabel("% of onset volume")

    ax = axes[1, 0]
    for ph in ("M0", "M1", "M2"):
        ax.plot(day, ts[f"n_{ph.lower()}"], color=PHENOTYPE_COLORS[ph], lw=1.8, label=ph)
    ax.set_ylabel("macrophages in the section (cells)")
    ax.set_title("Macrophages by phenotype")
    legend_above(ax, ncol=3)
    ax.set_xlabel("days since herniation")

    ax = axes[1, 1]
    for c, col in _CYTO_COLORS.items():
        y = ts[f"{c}_fragment_pg_ml"].to_numpy()
        ax.plot(day, np.where(y > 0, y, np.nan), color=col, lw=1.5, label=CYTOKINE_LABELS[c])
    ax.set_yscale("log")
    ax.set_ylabel("mean in fragment (pg/mL, log scale)")
    ax.set_title("Cytokines in the fragment")
    legend_above(ax, ncol=6)
    ax.set_xlabel("days since herniation")

    for a in axes.flat:
        a.grid(alpha=0.3)
    kind = str(patient["herniation_type"]).replace("_", " ")
    fig.suptitle(
        f"{literal(scen['name'])}: {kind}, onset volume {patient['herniation_volume_mm3']:.0f} mm³, seed {manifest['seed']}",
        fontsize=12,
    )
    path = Path(path)
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path

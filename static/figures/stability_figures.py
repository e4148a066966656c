"""Draw the figures of the sections on numerical stability, generalization and dropout.

Run from the book root with any Python that has matplotlib:

    python static/figures/stability_figures.py

It (re)writes static/img/stability-chain.svg, static/img/early-stopping.svg and
static/img/dropout.svg. It shares the palette, the arrow style and the
reproducible SVG writer (fixed hash salt, no date) of mlp_figures.py, so the
chapter's figures look alike and only change in git when a script changes.
"""

from __future__ import annotations

import itertools
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402
from mlp_figures import COLORS, arrow, save  # noqa: E402  (also selects the svg backend)

DROPPED = {"face": "#f4f4f4", "edge": "#bbbbbb"}


def stability_chain() -> None:
    """A chain of layers: values composed left to right; the backward signal delta is multiplied by the Jacobians J_l."""
    fig, ax = plt.subplots(figsize=(8.0, 2.6))
    labels = [r"$\mathbf{h}^{(0)}$", r"$\mathbf{h}^{(1)}$", r"$\mathbf{h}^{(2)}$", r"$\cdots$",
              r"$\mathbf{h}^{(L-1)}$", r"$\mathbf{h}^{(L)}$"]
    kinds = ["input", "hidden", "hidden", None, "hidden", "output"]
    layer_names = [r"$f_1$", r"$f_2$", r"$f_3$", r"$f_{L-1}$", r"$f_L$"]
    jacobians = [r"$\mathbf{J}_1$", r"$\mathbf{J}_2$", r"$\mathbf{J}_3$", r"$\mathbf{J}_{L-1}$",
                 r"$\mathbf{J}_L$"]
    xs = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    for x, label, kind in zip(xs, labels, kinds, strict=True):
        if kind is None:
            ax.text(x, 0, label, ha="center", va="center", fontsize=14)
            continue
        width = 1.1
        ax.add_patch(FancyBboxPatch((x - width / 2, -0.35), width, 0.7, boxstyle="round,pad=0.05",
                                    facecolor=COLORS[kind], edgecolor=COLORS["edge"], lw=1.2, zorder=3))
        ax.text(x, 0, label, ha="center", va="center", zorder=4, fontsize=12)
    for i, (left, right) in enumerate(itertools.pairwise(xs)):
        name = layer_names[i]
        # forward: above the boxes, left to right
        arrow(ax, (left + 0.45, 0.55), (right - 0.45, 0.55), shrink=2)
        ax.text((left + right) / 2, 0.85, name, ha="center", va="center", fontsize=11)
        # backward: below the boxes, right to left, labelled with the Jacobian it multiplies by
        arrow(ax, (right - 0.45, -0.55), (left + 0.45, -0.55), shrink=2, color="#b5523b")
        ax.text((left + right) / 2, -0.9, jacobians[i], ha="center", va="center", fontsize=10, color="#b5523b")
    ax.text(5.2, 1.45, r"forward: $\mathbf{h}^{(l)} = f_l(\mathbf{h}^{(l-1)})$", ha="center", fontsize=10)
    ax.text(5.2, -1.55, r"backward: $\boldsymbol{\delta}^{(l-1)} = \boldsymbol{\delta}^{(l)} \mathbf{J}_l$, "
            r"with $\mathbf{J}_l = \partial \mathbf{h}^{(l)} / \partial \mathbf{h}^{(l-1)}$",
            ha="center", fontsize=10, color="#b5523b")
    ax.set_xlim(-0.8, 11.5)
    ax.set_ylim(-1.8, 1.8)
    ax.set_aspect("equal")
    ax.axis("off")
    save(fig, "stability-chain.svg")


def early_stopping() -> None:
    """Idealized training and validation loss curves with the early-stopping point and patience window."""
    epochs = np.linspace(0, 40, 401)
    train = 0.15 + 1.6 * np.exp(-epochs / 6)
    valid = 0.42 + 1.4 * np.exp(-epochs / 5.5) + 0.0009 * np.maximum(epochs - 10, 0) ** 2
    best = float(epochs[np.argmin(valid)])
    patience = 8
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    ax.plot(epochs, train, color="#1f77b4", lw=2, label="training loss")
    ax.plot(epochs, valid, color="#d62728", lw=2, label="validation loss")
    ax.axvspan(best, best + patience, color="#eeeeee", zorder=0)
    ax.axvline(best, color="#555555", ls="--", lw=1)
    ax.axvline(best + patience, color="#555555", ls=":", lw=1)
    ax.annotate("best epoch:\nparameters kept", xy=(best, float(valid.min())), xytext=(best - 9, 1.35),
                fontsize=9, ha="center", arrowprops={"arrowstyle": "->", "color": "#555555"})
    ax.text(best + patience / 2, 1.75, "patience", ha="center", fontsize=9)
    ax.text(best + patience + 0.6, 1.15, "training\nstops", ha="left", fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_xlim(0, 40)
    ax.set_ylim(0, 1.9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper right", frameon=False, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    save(fig, "early-stopping.svg")


def dropout() -> None:
    """The same MLP without and with dropout; dropped hidden units and their edges are greyed out."""
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.6))
    dropped = {1, 4}  # zero-based indices of h2 and h5
    for ax, title, drop in zip(axes, ["without dropout", "after dropout"], [set(), dropped], strict=True):
        layers = [("input", 4, "x"), ("hidden", 5, "h"), ("output", 3, "o")]
        positions = []
        for col, (_kind, count, _symbol) in enumerate(layers):
            ys = [(count - 1) / 2 - i for i in range(count)]
            positions.append([(2.2 * col, y) for y in ys])
        for layer, (left, right) in enumerate(itertools.pairwise(positions)):
            for i, start in enumerate(left):
                for j, end in enumerate(right):
                    off = (layer == 0 and j in drop) or (layer == 1 and i in drop)
                    arrow(ax, start, end, shrink=12, color="#dddddd" if off else "#777777", lw=0.7)
        for (kind, _count, symbol), column in zip(layers, positions, strict=True):
            for i, (x, y) in enumerate(column):
                off = kind == "hidden" and i in drop
                ax.add_patch(Circle((x, y), 0.3, facecolor=DROPPED["face"] if off else COLORS[kind],
                                    edgecolor=DROPPED["edge"] if off else COLORS["edge"], lw=1.2, zorder=3,
                                    ls="--" if off else "-"))
                ax.text(x, y, f"${symbol}_{i + 1}$", ha="center", va="center", zorder=4,
                        color="#aaaaaa" if off else "black")
                if off:
                    ax.plot([x - 0.22, x + 0.22], [y - 0.22, y + 0.22], color="#b5523b", lw=1.5, zorder=5)
                    ax.plot([x - 0.22, x + 0.22], [y + 0.22, y - 0.22], color="#b5523b", lw=1.5, zorder=5)
        ax.text(2.2, 3.0, title, ha="center", va="center", fontsize=11)
        ax.set_xlim(-0.6, 5.0)
        ax.set_ylim(-2.8, 3.3)
        ax.set_aspect("equal")
        ax.axis("off")
    save(fig, "dropout.svg")


def main() -> None:
    stability_chain()
    early_stopping()
    dropout()


if __name__ == "__main__":
    main()

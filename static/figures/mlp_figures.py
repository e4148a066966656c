"""Draw the figures of the multilayer-perceptron chapter (sections mlp and backprop).

Run from the book root with any Python that has matplotlib:

    python static/figures/mlp_figures.py

It (re)writes static/img/mlp-one-hidden.svg, static/img/mlp-forward-graph.svg and
static/img/mlp-minibatch-shapes.svg.
The output is byte-for-byte reproducible (fixed hash salt, no date), so the
figures only change in git when this script changes.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, Ellipse, FancyArrowPatch, FancyBboxPatch  # noqa: E402

IMG_DIR = pathlib.Path(__file__).resolve().parent.parent / "img"

# One palette for the whole chapter: inputs, hidden units, outputs, operators.
COLORS = {"input": "#dbe9f6", "hidden": "#fde2c4", "output": "#d7efd3", "op": "#eeeeee", "edge": "#444444"}

plt.rcParams.update({
    "svg.hashsalt": "d2l-mlp-figures",  # deterministic element ids
    "svg.fonttype": "none",  # keep text as text: smaller and searchable
    "font.family": "DejaVu Sans",
    "font.size": 11,
})


def save(fig, name: str) -> None:
    """Write the figure as an SVG without a timestamp, so reruns give identical files."""
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG_DIR / name, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


def arrow(ax, start, end, shrink=14, color=COLORS["edge"], lw=1.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, lw=lw, color=color,
                                 shrinkA=shrink, shrinkB=shrink))


def mlp_one_hidden() -> None:
    """A fully connected network: 4 inputs, 5 hidden units, 3 outputs."""
    layers = [("input", 4, "x"), ("hidden", 5, "h"), ("output", 3, "o")]
    titles = ["input layer", "hidden layer", "output layer"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    positions = []
    for col, (kind, count, symbol) in enumerate(layers):
        x = 2.2 * col
        ys = [(count - 1) / 2 - i for i in range(count)]
        positions.append([(x, y) for y in ys])
        for i, y in enumerate(ys):
            ax.add_patch(Circle((x, y), 0.3, facecolor=COLORS[kind], edgecolor=COLORS["edge"], lw=1.2, zorder=3))
            ax.text(x, y, f"${symbol}_{i + 1}$", ha="center", va="center", zorder=4)
        ax.text(x, 3.0, titles[col], ha="center", va="center", fontsize=10)
    for left, right in zip(positions, positions[1:], strict=False):
        for start in left:
            for end in right:
                arrow(ax, start, end, shrink=12, color="#777777", lw=0.7)
    ax.set_xlim(-0.6, 5.0)
    ax.set_ylim(-2.8, 3.3)
    ax.set_aspect("equal")
    ax.axis("off")
    save(fig, "mlp-one-hidden.svg")


BOX = (0.45, 0.3)  # half width and half height of a value's box in the graph
OP = (0.62, 0.36)  # half axes of an operation's ellipse, wide enough for its label


def boundary_point(center, toward, half_size, ellipse):
    """Where the ray from ``center`` toward ``toward`` leaves a box or an ellipse of the given half size.

    Arrows start and end on the outlines, so short edges keep a visible shaft and every arrowhead
    touches its target, whatever the distance between the nodes."""
    (cx, cy), (tx, ty), (a, b) = center, toward, half_size
    dx, dy = tx - cx, ty - cy
    if ellipse:
        scale = 1 / ((dx / a) ** 2 + (dy / b) ** 2) ** 0.5
    else:
        scale = min(a / abs(dx) if dx else float("inf"), b / abs(dy) if dy else float("inf"))
    return cx + scale * dx, cy + scale * dy


def forward_graph() -> None:
    """The computational graph of the backprop section's running example.

    A one-hidden-layer tanh network for regression: U = X W1 + b1, H = tanh(U), Yhat = H W2 + b2,
    residuals R = Yhat - Y, loss = ||R||^2 / (2n). Boxes hold values, ellipses are operations.
    """
    fig, ax = plt.subplots(figsize=(9.6, 3.2))
    values = {  # name -> (x, y, label, kind)
        "X": (0.0, 0.0, r"$\mathbf{X}$", "input"),
        "W1": (1.5, 1.35, r"$\mathbf{W}^{(1)}$", "input"),
        "b1": (1.5, -1.35, r"$\mathbf{b}^{(1)}$", "input"),
        "U": (3.0, 0.0, r"$\mathbf{U}$", "hidden"),
        "H": (5.6, 0.0, r"$\mathbf{H}$", "hidden"),
        "W2": (7.1, 1.35, r"$\mathbf{W}^{(2)}$", "input"),
        "b2": (7.1, -1.35, r"$\mathbf{b}^{(2)}$", "input"),
        "Yhat": (8.6, 0.0, r"$\hat{\mathbf{Y}}$", "hidden"),
        "Y": (9.9, -1.35, r"$\mathbf{Y}$", "input"),
        "R": (11.2, 0.0, r"$\mathbf{R}$", "hidden"),
        "loss": (13.8, 0.0, r"$\ell$", "output"),
    }
    ops = {  # name -> (x, y, label)
        "aff1": (1.5, 0.0, "affine"),
        "tanh": (4.3, 0.0, "tanh"),
        "aff2": (7.1, 0.0, "affine"),
        "minus": (9.9, 0.0, r"$-$"),
        "square": (12.5, 0.0, r"$\frac{1}{2n}\|\cdot\|^2$"),
    }
    for x, y, label, kind in values.values():
        ax.add_patch(FancyBboxPatch((x - BOX[0], y - BOX[1]), 2 * BOX[0], 2 * BOX[1], boxstyle="round,pad=0.03",
                                    facecolor=COLORS[kind], edgecolor=COLORS["edge"], lw=1.2, zorder=3))
        ax.text(x, y, label, ha="center", va="center", zorder=4, fontsize=12)
    for x, y, label in ops.values():
        ax.add_patch(Ellipse((x, y), 2 * OP[0], 2 * OP[1], facecolor=COLORS["op"], edgecolor=COLORS["edge"],
                             lw=1.0, zorder=3))
        ax.text(x, y, label, ha="center", va="center", zorder=4, fontsize=9)
    edges = [("X", "aff1"), ("W1", "aff1"), ("b1", "aff1"), ("aff1", "U"), ("U", "tanh"), ("tanh", "H"),
             ("H", "aff2"), ("W2", "aff2"), ("b2", "aff2"), ("aff2", "Yhat"), ("Yhat", "minus"), ("Y", "minus"),
             ("minus", "R"), ("R", "square"), ("square", "loss")]
    shapes = {name: ((x, y), BOX, False) for name, (x, y, *_rest) in values.items()}
    shapes.update({name: ((x, y), OP, True) for name, (x, y, _label) in ops.items()})
    for start, end in edges:
        (a, size_a, ellipse_a), (b, size_b, ellipse_b) = shapes[start], shapes[end]
        arrow(ax, boundary_point(a, b, size_a, ellipse_a), boundary_point(b, a, size_b, ellipse_b), shrink=1.5)
    ax.text(6.9, -2.05, "forward: values flow left to right;  backward: gradients flow right to left",
            ha="center", va="center", fontsize=9, color="#555555")
    ax.set_xlim(-0.6, 14.4)
    ax.set_ylim(-2.3, 1.8)
    ax.set_aspect("equal")
    ax.axis("off")
    save(fig, "mlp-forward-graph.svg")


def minibatch_shapes() -> None:
    """The shape of a Fashion-MNIST minibatch at each step of the MLP's forward pass."""
    fig, ax = plt.subplots(figsize=(8.4, 1.9))
    tensors = [  # (x, label, shape, kind)
        (0.0, "images", r"$256 \times 1 \times 28 \times 28$", "input"),
        (2.9, r"$\mathbf{X}$", r"$256 \times 784$", "input"),
        (5.8, r"$\mathbf{H}$", r"$256 \times 256$", "hidden"),
        (8.7, r"$\mathbf{O}$", r"$256 \times 10$", "output"),
    ]
    steps = ["flatten", r"$\mathrm{ReLU}(\mathbf{X}\mathbf{W}^{(1)} + \mathbf{b}^{(1)})$",
             r"$\mathbf{H}\mathbf{W}^{(2)} + \mathbf{b}^{(2)}$"]
    for x, label, shape, kind in tensors:
        ax.add_patch(FancyBboxPatch((x - 0.95, -0.45), 1.9, 0.9, boxstyle="round,pad=0.05",
                                    facecolor=COLORS[kind], edgecolor=COLORS["edge"], lw=1.2, zorder=3))
        ax.text(x, 0.15, label, ha="center", va="center", zorder=4, fontsize=11)
        ax.text(x, -0.2, shape, ha="center", va="center", zorder=4, fontsize=9)
    for (x0, *_a), (x1, *_b), step in zip(tensors, tensors[1:], steps, strict=False):
        arrow(ax, (x0 + 1.0, 0), (x1 - 1.0, 0), shrink=2)
        ax.text((x0 + x1) / 2, 0.75, step, ha="center", va="center", fontsize=9)
    ax.set_xlim(-1.1, 9.8)
    ax.set_ylim(-0.6, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    save(fig, "mlp-minibatch-shapes.svg")


def main() -> None:
    mlp_one_hidden()
    forward_graph()
    minibatch_shapes()


if __name__ == "__main__":
    main()

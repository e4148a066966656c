"""Compare the activation values and gradients of every framework, in one step (make test-d2l).

Each framework's d2l test run (tests/d2l/test_activations.py, in its own environment) saves its arrays
as <dir>/<framework>.npz. This script then loads them all and fails (exit status 1) if a framework is
missing or any two disagree by more than TOL, away from relu's kink at 0:

    <env>/bin/python tests/d2l/activations_agree.py DIR pytorch mxnet jax tensorflow
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

NAMES = ('relu', 'prelu', 'sigmoid', 'tanh', 'gelu', 'swish')
TOL = 1e-5


def save(folder: Path, framework: str, values: dict) -> None:
    """``values`` (name -> (x, y, grad)) as ``folder/<framework>.npz``, written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f'{name}_{part}': array for name, triple in values.items() for part, array in zip('x y grad'.split(), triple, strict=True)}
    tmp = folder / f'.{framework}.tmp.npz'
    np.savez(tmp, **arrays)
    tmp.replace(folder / f'{framework}.npz')


def load(path: Path) -> dict:
    with np.load(path) as saved:
        return {name: (saved[f'{name}_x'], saved[f'{name}_y'], saved[f'{name}_grad']) for name in NAMES}


def disagreements(by_framework: dict) -> list[str]:
    """Every (framework pair, function, values or gradients) that differs by more than TOL."""
    found = []
    for (a, va), (b, vb) in itertools.combinations(sorted(by_framework.items()), 2):
        for name in NAMES:
            (xa, ya, ga), (xb, yb, gb) = va[name], vb[name]
            if xa.shape != xb.shape or np.max(np.abs(xa - xb)) > 1e-6:
                found.append(f'{a} vs {b}: {name} grids differ')
                continue
            away = (np.abs(xa) > 1e-3) & (np.abs(xb) > 1e-3)  # float32 and float64 grids straddle relu's kink
            for what, pa, pb in (('values', ya, yb), ('gradients', ga[away], gb[away])):
                worst = float(np.max(np.abs(pa - pb)))
                if not worst <= TOL:
                    found.append(f'{a} vs {b}: {name} {what} differ by up to {worst:.2e} (tolerance {TOL:.0e})')
    return found


def main(argv: list[str]) -> int:
    folder, frameworks = Path(argv[0]), argv[1:]
    missing = [fw for fw in frameworks if not (folder / f'{fw}.npz').is_file()]
    if missing:
        print(f'activations: no values from {", ".join(missing)} in {folder}; run make test-d2l', file=sys.stderr)
        return 1
    found = disagreements({fw: load(folder / f'{fw}.npz') for fw in frameworks})
    for line in found:
        print(f'activations: {line}', file=sys.stderr)
    if not found:
        print(f'activations: {", ".join(frameworks)} agree to {TOL:.0e} on {len(NAMES)} functions, values and gradients')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

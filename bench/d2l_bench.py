"""``make bench-d2l``: how much d2l.Trainer costs over a plain training loop, in every framework.

For each framework of config.ini, runs bench/d2l_bench_worker.py in that framework's environment
(one run at a time, each in a fresh process, so they do not compete for the CPUs): the chapter's MLP
on Fashion-MNIST, 3 epochs, with d2l.Trainer and with a plain loop doing the same work, alternating,
the median of REPEATS runs each (robust to a run disturbed by other processes).
Prints seconds per epoch both ways, their ratio (goal: <= 1.10), the ratio of CPU time (steadier
than wall-clock time when other processes share the machine), and the compute floor: the epoch's
FLOPs over the machine's numpy float32 matmul rate.

    python bench/d2l_bench.py [--epochs 3] [--repeats 3] [--frameworks pytorch jax ...]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabbook.config import load_config  # noqa: E402
from tabbook.envs import env_python  # noqa: E402

WORKER = Path(__file__).resolve().parent / 'd2l_bench_worker.py'
TRAIN, VAL, INPUTS, HIDDEN, OUTPUTS = 60000, 10000, 784, 256, 10


def epoch_flops():
    """FLOPs of one epoch: forward and backward (weight gradients, and the hidden layer's input gradient)
    on the training set, forward on the validation set. Biases and activations are negligible."""
    forward = 2 * (INPUTS * HIDDEN + HIDDEN * OUTPUTS)
    backward = 2 * (INPUTS * HIDDEN + 2 * HIDDEN * OUTPUTS)
    return TRAIN * (forward + backward) + VAL * forward


def run_worker(python, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='2')
    result = subprocess.run([str(python), str(WORKER), *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f'{WORKER.name} {" ".join(map(str, args))} failed (exit {result.returncode})')
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=3, help='runs of each way; the median counts')
    parser.add_argument('--frameworks', nargs='*', help='default: the tabs of config.ini')
    args = parser.parse_args(argv)
    config = load_config(ROOT)
    frameworks = args.frameworks or list(config.tabs)
    pythons = {fw: env_python(config.envs[fw]) for fw in frameworks}
    missing = [f'{fw}: {py}' for fw, py in pythons.items() if not Path(py).exists()]
    if missing:
        raise SystemExit('missing environments (run make setup):\n  ' + '\n  '.join(missing))

    flops = run_worker(pythons[frameworks[0]], 'flops')['matmul_flops']
    floor = epoch_flops() / flops
    results = {}
    for fw in frameworks:
        print(f'{fw}: training ...', file=sys.stderr, flush=True)
        results[fw] = {'d2l': [], 'plain': []}
        for _ in range(args.repeats):
            for way in ('plain', 'd2l'):
                results[fw][way].append(run_worker(pythons[fw], fw, way, args.epochs))

    print(f'\nd2l benchmark: MLP {INPUTS}-{HIDDEN}-{OUTPUTS} (ReLU), SGD lr 0.1, batch 256, Fashion-MNIST, '
          f'{args.epochs} epochs (train + validation), median of {args.repeats} runs per way, each a fresh process; '
          f'{os.cpu_count()} CPUs')
    print(f'compute floor: numpy float32 matmul 2048x2048 at {flops / 1e9:.0f} GFLOP/s; one epoch is '
          f'{epoch_flops() / 1e9:.0f} GFLOP -> {floor:.2f} s/epoch\n')
    header = (f'| {"framework":<10} | {"d2l.Trainer s/epoch":>19} | {"plain loop s/epoch":>18} | {"ratio":>5} | '
              f'{"CPU-time ratio":>14} | {"d2l / floor":>11} | {"val acc d2l / plain":>19} |')
    print(header)
    print('|' + '|'.join('-' * (len(cell)) for cell in header.split('|')[1:-1]) + '|')
    for fw in frameworks:
        runs = results[fw]
        median = {way: statistics.median(r['seconds_per_epoch'] for r in runs[way]) for way in runs}
        median_cpu = {way: statistics.median(r['cpu_seconds_per_epoch'] for r in runs[way]) for way in runs}
        final = {way: statistics.median(r['val_acc'] for r in runs[way]) for way in runs}
        accs = f'{final["d2l"]:.3f} / {final["plain"]:.3f}'
        print(f'| {fw:<10} | {median["d2l"]:>19.2f} | {median["plain"]:>18.2f} | {median["d2l"] / median["plain"]:>5.2f} | '
              f'{median_cpu["d2l"] / median_cpu["plain"]:>14.2f} | {median["d2l"] / floor:>10.1f}x | {accs:>19} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())

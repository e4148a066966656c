"""``make bench-d2l``: what d2l.Trainer's epoch costs, against a plain loop and against the hardware.

For each framework of config.ini, runs bench/d2l_bench_worker.py in that framework's environment
(one run at a time, each in a fresh process, so they do not compete for the CPUs): the chapter's MLP
on Fashion-MNIST, 3 epochs, with d2l.Trainer and with a plain loop doing the same work, and the
epoch's matrix products alone in the same framework (the floor: same shapes, tensors made
beforehand), alternating, the median of REPEATS runs each (robust to a run disturbed by other
processes). Prints seconds per epoch each way, d2l's ratio to the plain loop (goal: <= 1.10) and to
the floor (goal: <= 1.5), the same ratios in CPU time (steadier than wall-clock time when other
processes share the machine), and for reference the machine's numpy float32 2048x2048 matmul rate.

    python bench/d2l_bench.py [--epochs 3] [--repeats 3] [--frameworks pytorch jax ...] [--device cpu|cuda]
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
from tabbook.run import kernel_env  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from d2l_bench_shapes import HIDDEN, INPUTS, OUTPUTS, epoch_gemms  # noqa: E402

WORKER = Path(__file__).resolve().parent / 'd2l_bench_worker.py'


def epoch_flops():
    """FLOPs of one epoch's matrix products (those the floor times): forward and backward (weight
    gradients, and the hidden layer's input gradient) on the training set, forward on the validation
    set. Biases and activations are negligible."""
    return sum(2 * m * k * n for m, k, n in epoch_gemms())


def run_worker(python, *args, config=None, threads=None):
    """One run of the worker. With ``threads``, in the environment a notebook kernel of `tabbook run`
    gets: thread pools of that size, passive OpenMP waiting (see tabbook.run.kernel_env)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='2')
    if threads:
        env = kernel_env(config, threads, env)
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
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu',
                        help='where the models train and the floor runs (cuda: the first GPU)')
    parser.add_argument('--compare-with', metavar='DIR',
                        help="also train with the d2l of another checkout DIR (say, a worktree of an older "
                             "commit): its epoch is the column 'other d2l'")
    parser.add_argument('--threads', type=int, nargs='+', default=[os.cpu_count() or 1],
                        help="thread pools' sizes to measure, each as `tabbook run` sets a kernel's "
                             '(1 is what each of two notebooks gets at -j 2 on 2 cores); default: the CPUs')
    args = parser.parse_args(argv)
    config = load_config(ROOT)
    frameworks = args.frameworks or list(config.tabs)
    pythons = {fw: env_python(config.envs[fw]) for fw in frameworks}
    missing = [f'{fw}: {py}' for fw, py in pythons.items() if not Path(py).exists()]
    if missing:
        raise SystemExit('missing environments (run make setup):\n  ' + '\n  '.join(missing))

    load = os.getloadavg()
    flops = run_worker(pythons[frameworks[0]], 'flops')['matmul_flops']
    results = {}
    for fw in frameworks:
        for threads in args.threads:
            print(f'{fw}, {threads} thread(s): training ...', file=sys.stderr, flush=True)
            runs = results[f'{fw}, {threads} thr'] = {'d2l': [], 'plain': [], 'floor': []}
            if args.compare_with:
                runs['other'] = []
            for _ in range(args.repeats):
                for way in runs:
                    extra = ('--d2l-root', args.compare_with) if way == 'other' else ()
                    runs[way].append(run_worker(pythons[fw], fw, 'd2l' if way == 'other' else way, args.epochs,
                                                '--device', args.device, *extra, config=config, threads=threads))
    load = [max(a, b) for a, b in zip(load, os.getloadavg(), strict=True)]
    print(table(results, args, flops, load))
    return 0


def table(results, args, flops, load):
    """The benchmark's report: one row per framework, from the medians of its runs."""
    lines = [
        f'\nd2l benchmark: MLP {INPUTS}-{HIDDEN}-{OUTPUTS} (ReLU), SGD lr 0.1, batch 256, Fashion-MNIST, '
        f'{args.epochs} epochs (train + validation), median of {args.repeats} runs per way, each a fresh process; '
        f'{os.cpu_count()} CPUs, device {args.device}, thread pools sized as `tabbook run` sizes a kernel\'s '
        f'(threads per row, passive OpenMP waiting); load average (1, 5, 15 min; the highest seen '
        f'before and after) {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}',
        f'floor: the epoch\'s {len(epoch_gemms())} matrix products ({epoch_flops() / 1e9:.0f} GFLOP) alone, '
        f'in the same framework, on tensors made beforehand',
        f'for reference: numpy float32 matmul 2048x2048 at {flops / 1e9:.0f} GFLOP/s -> '
        f'{epoch_flops() / flops:.2f} s for the epoch\'s FLOPs\n',
    ]
    columns = [('framework, threads', 18), ('d2l s/epoch', 11), ('plain s/epoch', 13), ('floor s/epoch', 13),
               ('d2l / plain', 11), ('d2l / floor', 11), ('d2l later epochs', 16), ('later / floor', 13),
               ('CPU: d2l / plain', 16), ('CPU: d2l / floor', 16), ('CPU: later / floor', 18),
               ('d2l first epoch', 15), ('floor GFLOP/s', 13), ('val acc d2l / plain', 19)]
    if args.compare_with:
        columns += [('other d2l s/epoch', 17), ('other later', 11), ('other / floor', 13), ('other later / floor', 19),
                    ('CPU: other later / floor', 24)]
    lines += ['| ' + ' | '.join(f'{name:>{width}}' for name, width in columns) + ' |',
              '|' + '|'.join('-' * (width + 2) for _, width in columns) + '|']
    for fw, runs in results.items():
        med = {way: {key: statistics.median(r[key] for r in runs[way]) for key in runs[way][0]} for way in runs}
        d2l, plain, floor = med['d2l'], med['plain'], med['floor']
        cells = [fw, f'{d2l["seconds_per_epoch"]:.2f}', f'{plain["seconds_per_epoch"]:.2f}', f'{floor["later"]:.2f}',
                 f'{d2l["seconds_per_epoch"] / plain["seconds_per_epoch"]:.2f}',
                 f'{d2l["seconds_per_epoch"] / floor["later"]:.2f}x', f'{d2l["later"]:.2f}',
                 f'{d2l["later"] / floor["later"]:.2f}x',
                 f'{d2l["cpu_seconds_per_epoch"] / plain["cpu_seconds_per_epoch"]:.2f}',
                 f'{d2l["cpu_seconds_per_epoch"] / floor["later_cpu"]:.2f}x',
                 f'{d2l["later_cpu"] / floor["later_cpu"]:.2f}x', f'{d2l["first"]:.2f}',
                 f'{epoch_flops() / floor["later"] / 1e9:.0f}', f'{d2l["val_acc"]:.3f} / {plain["val_acc"]:.3f}']
        if 'other' in med:
            other = med['other']
            cells += [f'{other["seconds_per_epoch"]:.2f}', f'{other["later"]:.2f}',
                      f'{other["seconds_per_epoch"] / floor["later"]:.2f}x', f'{other["later"] / floor["later"]:.2f}x',
                      f'{other["later_cpu"] / floor["later_cpu"]:.2f}x']
        lines.append('| ' + ' | '.join(f'{cell:>{width}}' for cell, (_, width) in zip(cells, columns, strict=True)) + ' |')
    lines.append('\nd2l, plain: seconds per epoch over the whole run (setup and compilation included); later epochs: '
                 'the median epoch after the first (the steady state); floor: the median epoch of the products alone '
                 'after the first; CPU: the same ratios in CPU time (all threads).'
                 + (f' other: d2l imported from {args.compare_with}.' if args.compare_with else ''))
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())

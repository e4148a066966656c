"""``make bench-d2l``: what d2l.Trainer's epoch costs, against a plain loop and against the hardware.

For each framework of config.ini, runs bench/d2l_bench_worker.py in that framework's environment
(one run at a time, each in a fresh process, so they do not compete for the CPUs): each model (the
chapter's MLP on Fashion-MNIST, 3 epochs; house-prices.md's MLP on its first fold of the Ames sales,
20 epochs) with d2l.Trainer and with a plain loop doing the same work, and the epoch's matrix
products alone in the same framework (the floor: same shapes, tensors made beforehand),
alternating, the median of REPEATS runs each (robust to a run disturbed by other processes). Prints
seconds per epoch each way, d2l's ratio to the plain loop (goal: <= 1.10) and to the floor (goal:
<= 1.5), the same ratios in CPU time (steadier than wall-clock time when other processes share the
machine), and for reference the machine's numpy float32 2048x2048 matmul rate.

    python bench/d2l_bench.py [--epochs 3] [--repeats 3] [--frameworks pytorch jax ...] [--device cpu|cuda]
                              [--models mlp house-prices] [--threads 1 2] [--compare-with DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabbook.config import load_config  # noqa: E402
from tabbook.envs import env_python  # noqa: E402
from tabbook.outputs import drop_matching_lines  # noqa: E402
from tabbook.parse import CODE, read_document  # noqa: E402
from tabbook.run import kernel_env  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from d2l_bench_shapes import HIDDEN, HOUSE, INPUTS, MODELS, OUTPUTS  # noqa: E402

WORKER = Path(__file__).resolve().parent / 'd2l_bench_worker.py'
HOUSE_PRICES = ROOT / 'chapter_mlp' / 'house-prices.md'


def house_price_code(config, tab):
    """house-prices.md's code that defines its model in ``tab``: the section's import cell (magics
    left out) and the cell that defines HousePriceMLP (with what it uses: MXNet's AdamW), read by the
    book's own parser, so that the benchmark trains the section's model as the section writes it."""
    cells = [cell.source_for(tab) for cell in read_document(config, HOUSE_PRICES).cells_for(tab) if cell.kind == CODE]
    imports = next(code for code in cells if 'from d2l import' in code)
    model = [code for code in cells if 'class HousePriceMLP' in code]
    if not model:
        raise SystemExit(f'{HOUSE_PRICES}: no HousePriceMLP in the {tab} code')
    lines = [line for line in imports.splitlines() if not line.startswith('%')]
    return '\n\n'.join(['\n'.join(lines), *model]) + '\n'


def run_worker(python, *args, config=None, threads=None, drop_stderr=()):
    """One run of the worker. With ``threads``, in the environment a notebook kernel of `tabbook run`
    gets: thread pools of that size, passive OpenMP waiting (see tabbook.run.kernel_env). Its stderr
    (progress, errors) is passed on without the lines its environment's ``drop_stderr`` patterns
    match (the framework's start-up noise, as the book's notebooks drop it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='3')
    if threads:
        env = kernel_env(config, threads, env)
    result = subprocess.run([str(python), str(WORKER), *map(str, args)], env=env, cwd=ROOT,
                            capture_output=True, text=True)
    sys.stderr.write(drop_matching_lines(result.stderr, drop_stderr)[0])
    if result.returncode != 0:
        raise SystemExit(f'{WORKER.name} {" ".join(map(str, args))} failed (exit {result.returncode})')
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int,
                        help="epochs per run (default: 3 for the MLP; 20, the section's, for house prices)")
    parser.add_argument('--repeats', type=int, default=3, help='runs of each way; the median counts')
    parser.add_argument('--frameworks', nargs='*', help='default: the tabs of config.ini')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu',
                        help='where the models train and the floor runs (cuda: the first GPU)')
    parser.add_argument('--compare-with', metavar='DIR',
                        help="also train with the d2l of another checkout DIR (say, a worktree of an older "
                             "commit): its epoch is the column 'other d2l'")
    parser.add_argument('--models', nargs='+', choices=MODELS, default=list(MODELS),
                        help="the chapter's MLP, house-prices.md's MLP (default: both)")
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
    reports = []
    epochs = {model: args.epochs or DEFAULT_EPOCHS[model] for model in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            results = {}
            for fw in frameworks:
                model_args = ['--model', model]
                if model == 'house-prices':
                    code = Path(tmp, f'house_prices_{fw}.py')
                    code.write_text(house_price_code(config, fw))
                    model_args += ['--chapter-code', code]
                for threads in args.threads:
                    print(f'{model}, {fw}, {threads} thread(s): training ...', file=sys.stderr, flush=True)
                    runs = results[f'{fw}, {threads} thr'] = {'d2l': [], 'plain': [], 'floor': []}
                    if args.compare_with:
                        runs['other'] = []
                    for _ in range(args.repeats):
                        for way in runs:
                            extra = ('--d2l-root', args.compare_with) if way == 'other' else ()
                            runs[way].append(run_worker(
                                pythons[fw], fw, 'd2l' if way == 'other' else way, epochs[model], '--device',
                                args.device, *model_args, *extra, config=config, threads=threads,
                                drop_stderr=config.envs[fw].drop_stderr))
            reports.append((model, results))
    load = [max(a, b) for a, b in zip(load, os.getloadavg(), strict=True)]
    print(f'\nd2l benchmark: median of {args.repeats} runs per way, '
          f'each a fresh process; {os.cpu_count()} CPUs, device {args.device}, thread pools sized as `tabbook run` '
          f'sizes a kernel\'s (threads per row, passive OpenMP waiting); load average (1, 5, 15 min; the highest '
          f'seen before and after) {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; for reference: numpy float32 matmul '
          f'2048x2048 at {flops / 1e9:.0f} GFLOP/s')
    for model, results in reports:
        print(table(model, results, args, flops, epochs[model]))
    return 0


DEFAULT_EPOCHS = {'mlp': 3, 'house-prices': 20}

MODEL_TITLES = {
    'mlp': f'MLP {INPUTS}-{HIDDEN}-{OUTPUTS} (ReLU), SGD lr 0.1, batch 256, Fashion-MNIST (val: accuracy)',
    'house-prices': f"house-prices.md's HousePriceMLP, features-{HOUSE['hidden']}-1 (ReLU, dropout "
                    f"{HOUSE['dropout']}), AdamW lr {HOUSE['lr']} decay {HOUSE['weight_decay']}, batch "
                    f"{HOUSE['batch']}, the first of {HOUSE['folds']} folds of the Ames sales, validation in one "
                    f"batch (val: log-RMSE)",
}


def table(model, results, args, flops, epochs):
    """The benchmark's report for ``model``: one row per framework, from the medians of its runs."""
    floor_run = next(iter(results.values()))['floor'][0]
    epoch_flops = floor_run['gemm_flops']
    lines = [
        f'\n{MODEL_TITLES[model]}; {epochs} epochs (train + validation)',
        f'floor: the epoch\'s {floor_run["gemms"]} matrix products ({epoch_flops / 1e9:.2f} GFLOP) alone, '
        f'in the same framework, on tensors made beforehand; numpy\'s 2048x2048 rate would do them in '
        f'{epoch_flops / flops:.3f} s\n',
    ]
    columns = [('framework, threads', 18), ('d2l s/epoch', 11), ('plain s/epoch', 13), ('floor s/epoch', 13),
               ('d2l / plain', 11), ('d2l / floor', 11), ('d2l later epochs', 16), ('later / floor', 13),
               ('plain later / floor', 19),
               ('CPU: d2l / plain', 16), ('CPU: d2l / floor', 16), ('CPU: later / floor', 18),
               ('d2l first epoch', 15), ('floor GFLOP/s', 13), ('val d2l / plain', 15)]
    if args.compare_with:
        columns += [('other d2l s/epoch', 17), ('other later', 11), ('other / floor', 13), ('other later / floor', 19),
                    ('CPU: other later / floor', 24)]
    lines += ['| ' + ' | '.join(f'{name:>{width}}' for name, width in columns) + ' |',
              '|' + '|'.join('-' * (width + 2) for _, width in columns) + '|']
    for fw, runs in results.items():
        med = {way: {key: statistics.median(r[key] for r in runs[way]) for key in runs[way][0]} for way in runs}
        d2l, plain, floor = med['d2l'], med['plain'], med['floor']
        cells = [fw, f'{d2l["seconds_per_epoch"]:.3f}', f'{plain["seconds_per_epoch"]:.3f}', f'{floor["later"]:.3f}',
                 f'{d2l["seconds_per_epoch"] / plain["seconds_per_epoch"]:.2f}',
                 f'{d2l["seconds_per_epoch"] / floor["later"]:.2f}x', f'{d2l["later"]:.3f}',
                 f'{d2l["later"] / floor["later"]:.2f}x', f'{plain["later"] / floor["later"]:.2f}x',
                 f'{d2l["cpu_seconds_per_epoch"] / plain["cpu_seconds_per_epoch"]:.2f}',
                 f'{d2l["cpu_seconds_per_epoch"] / floor["later_cpu"]:.2f}x',
                 f'{d2l["later_cpu"] / floor["later_cpu"]:.2f}x', f'{d2l["first"]:.3f}',
                 f'{epoch_flops / floor["later"] / 1e9:.0f}', f'{d2l["val_metric"]:.3f} / {plain["val_metric"]:.3f}']
        if 'other' in med:
            other = med['other']
            cells += [f'{other["seconds_per_epoch"]:.3f}', f'{other["later"]:.3f}',
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

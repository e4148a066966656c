"""How much of d2l's hand-written framework modules repeats itself (issue 18, item 6).

    python3 bench/d2l_duplication.py [--verbose]

For each of d2l/torch.py, mxnet.py, jax.py and tensorflow.py: its significant lines (not blank, not
a comment, not an import, not lone punctuation), and how many of them stand word for word (white
space folded) in another of the four. Then the functions and methods defined in all four modules,
and those whose source is the same in all four. Standard library only: it reads the files as text
and parses them with ``ast``; nothing is imported or run.
"""

import argparse
import ast
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ('torch', 'mxnet', 'jax', 'tensorflow')
PUNCTUATION = re.compile(r'^[\s()\[\]{},:.]*$')


def significant_lines(text):
    lines = []
    for line in text.splitlines():
        line = ' '.join(line.split())
        if (not line or line.startswith('#') or PUNCTUATION.match(line)
                or line.startswith(('import ', 'from '))):
            continue
        lines.append(line)
    return lines


def definitions(text):
    """Qualified name -> source text (white space folded) of every function and method."""
    tree = ast.parse(text)
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = ' '.join(ast.get_source_segment(text, child).split())
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + '.')
    visit(tree, '')
    return found


def report(folder=ROOT / 'd2l', verbose=False, out=sys.stdout):
    texts = {name: (folder / f'{name}.py').read_text() for name in MODULES}
    lines = {name: significant_lines(text) for name, text in texts.items()}
    total_repeated = total = 0
    print(f'{"module":<14} {"significant":>11} {"also in another":>16}', file=out)
    for name in MODULES:
        others = set().union(*(set(lines[o]) for o in MODULES if o != name))
        repeated = [line for line in lines[name] if line in others]
        total_repeated += len(repeated)
        total += len(lines[name])
        print(f'{name + ".py":<14} {len(lines[name]):>11} {len(repeated):>9} ({100 * len(repeated) / len(lines[name]):3.0f}%)',
              file=out)
        if verbose:
            for line, count in Counter(repeated).most_common():
                print(f'    {count}x {line}', file=out)
    print(f'{"all four":<14} {total:>11} {total_repeated:>9} ({100 * total_repeated / total:3.0f}%)', file=out)
    defs = {name: definitions(text) for name, text in texts.items()}
    common = sorted(set.intersection(*(set(d) for d in defs.values())))
    identical = [q for q in common if len({defs[name][q] for name in MODULES}) == 1]
    print(f'functions and methods defined in all four modules: {len(common)}; identical in all four: '
          f'{len(identical)}{" (" + ", ".join(identical) + ")" if identical else ""}', file=out)
    if verbose:
        print('  defined in all four: ' + ', '.join(common), file=out)
    return total_repeated, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--verbose', action='store_true', help='list the repeated lines and the shared names')
    args = parser.parse_args(argv)
    report(verbose=args.verbose)
    return 0


if __name__ == '__main__':
    sys.exit(main())

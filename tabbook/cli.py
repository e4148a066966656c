"""Command line: ``python -m tabbook <command>``.

Each command lives in the module of its pipeline stage, which provides
``add_arguments(parser)`` and ``run_command(args) -> int``. Bad input
(SourceError) is printed as ``FILE:LINE: message`` with exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tabbook.errors import SourceError

COMMANDS = {
    "notebooks": ("tabbook.notebooks", "convert Markdown chapters into one notebook per framework"),
    "lib": ("tabbook.library", "write the chapters' #@save code into the d2l package"),
    "check": ("tabbook.book", "check the whole book: labels, references, citations, figures"),
    "run": ("tabbook.execute", "execute every notebook (cached by content, in parallel)"),
    "html": ("tabbook.render", "build the HTML book under _build/html"),
    "publish-notebooks": ("tabbook.reader", "write the executed notebooks for readers (Colab, Studio Lab) into DIR"),
    "cache": ("tabbook.store", "report the execution store; --prune it; 'cache import DIR...' merges other stores"),
    "pdf": ("tabbook.pdf", "print one PDF book per framework under _build/pdf (from the executed notebooks)"),
    "slides": ("tabbook.slides", "write slide decks under _build/slides from the sections' slide marks"),
    "bench": ("tabbook.bench", "print the converter's speed figure"),
    "serve": ("tabbook.serve", "a live preview on 127.0.0.1 that rebuilds only what changed"),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m tabbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(module=module_name)
        # Only the chosen command's module is imported: start-up stays fast.
        if argv and argv[0] == name:
            importlib.import_module(module_name).add_arguments(sub)
    args = parser.parse_args(argv)
    try:
        return importlib.import_module(args.module).run_command(args) or 0
    except SourceError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

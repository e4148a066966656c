"""tabbook: build a d2l-style book from Markdown chapters with framework tabs.

The pipeline (ARCHITECTURE.md has the whole map):

    config     config.ini -> BookConfig
    parse      chapter Markdown -> Document (the one reader of the dialect)
    book       every Document -> Book (order, numbers, labels, citations, each tab's view)
    views      notebooks, render (HTML), pdf, slides, reader, search, serve
    execution  plan -> run -> record (execute.run_book), through the store

This package imports nothing outside the standard library at import time, so
``python3 -m tabbook.envs`` can create the environments before any exist.
"""

__version__ = "0.1.0"

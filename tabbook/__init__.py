"""tabbook: build a d2l-style book from Markdown chapters with framework tabs.

The pipeline, one module per stage:

    config     config.ini -> BookConfig
    parse      chapter Markdown -> Document (blocks with source lines)
    notebooks  Document -> one nbformat notebook per tab
    library    #@save blocks -> d2l/_saved/<framework>.py
    execute    notebooks -> executed notebooks (cached by content, parallel)
    render     executed notebooks -> HTML book with framework tabs

This package imports nothing outside the standard library at import time, so
``python3 -m tabbook.envs`` can create the environments before any exist.
"""

__version__ = "0.1.0"

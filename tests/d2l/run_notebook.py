"""Execute code cells as a notebook with nbclient on a given Python's ipykernel; print the outputs as JSON.

Run by the tool environment's python (which has nbclient; the framework environments do not) for
test_plotting.py:
    run_notebook.py CELLS.json KERNEL_PYTHON
CELLS.json is a list of cell sources. The kernel runs KERNEL_PYTHON (a framework environment) with
this checkout on PYTHONPATH.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[2]


def main():
    cells_path, kernel_python = sys.argv[1], sys.argv[2]
    sources = json.loads(Path(cells_path).read_text())
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    with tempfile.TemporaryDirectory() as jupyter_dir:
        spec_dir = Path(jupyter_dir) / 'kernels' / 'd2l-under-test'
        spec_dir.mkdir(parents=True)
        spec = {'argv': [kernel_python, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
                'display_name': 'd2l under test', 'language': 'python',
                'env': {'PYTHONPATH': str(ROOT), 'TF_CPP_MIN_LOG_LEVEL': '2'}}
        (spec_dir / 'kernel.json').write_text(json.dumps(spec))
        os.environ['JUPYTER_PATH'] = jupyter_dir
        client = nbclient.NotebookClient(nb, kernel_name='d2l-under-test', timeout=300,
                                         resources={'metadata': {'path': str(ROOT)}})
        client.execute()
    print(json.dumps([cell.outputs for cell in nb.cells]))


if __name__ == '__main__':
    main()

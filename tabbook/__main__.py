import sys

from tabbook.cli import main

sys.exit(main())

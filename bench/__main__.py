"""``python -m bench``: see :mod:`bench`."""

import sys

from bench.run import main

sys.exit(main())

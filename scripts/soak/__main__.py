import sys

from scripts.soak.run import main

sys.exit(main())

import sys

from gpi.runtime.cli import main

sys.exit(main())

import sys

from cvgl_core.cli import main

sys.exit(main())

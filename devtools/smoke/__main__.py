"""``python -m devtools.smoke``: see ``devtools.smoke.runner``."""
import sys

from devtools.smoke.runner import main

sys.exit(main())

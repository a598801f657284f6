"""`python -m videocomposer` = the `videocomposer` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m fastloss info|bench``."""

import sys

from .cli import main

sys.exit(main())

"""`python -m asr` is the `asr` command (and what `accelerate launch -m asr` runs)."""

import sys

from asr.cli import main

sys.exit(main())

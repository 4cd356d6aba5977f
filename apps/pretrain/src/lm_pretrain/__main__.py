"""`python -m lm_pretrain` (what torchrun's `-m` runs)."""

import sys

from lm_pretrain.cli import main

sys.exit(main())

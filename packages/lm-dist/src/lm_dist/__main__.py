"""`python -m lm_dist ...` (and `torchrun -m lm_dist ...`) is the `lm-dist` command."""

import sys

from lm_dist.cli import main

sys.exit(main())

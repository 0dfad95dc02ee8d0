"""`python -m services.common.cli` is the same as the `cep` console script."""

import sys

from services.common.cli.main import main

sys.exit(main())

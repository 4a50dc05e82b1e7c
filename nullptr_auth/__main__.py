"""``python -m nullptr_auth``: the same as the ``nullptr-auth`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m cli``: the same as the ``agora-flow`` command."""

import sys

from cli import main

main(sys.argv[1:])

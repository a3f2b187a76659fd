import sys

from .cli import main

sys.exit(main(sys.argv[1:], [sys.executable, "-m", __package__ or "edgeq.agent"]))

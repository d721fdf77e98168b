"""CAS vs CE loss benchmark; same as ``cas-studio bench loss``."""

import sys

from cas_studio.bench.loss import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

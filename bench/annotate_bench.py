"""Annotation speed benchmark; same as ``cas-studio bench annotate``."""

import sys

from cas_studio.bench.annotator import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

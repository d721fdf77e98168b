"""Launch the CAS Studio app: ``python app.py [--host H] [--port P]``."""

import sys

from cas_studio.app import main

if __name__ == "__main__":
    sys.exit(main())

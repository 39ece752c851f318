"""``python -m journeyfsm``: the ``journeyfsm`` command, for when its script is not on PATH.

$ python -m journeyfsm show aida
$ python -m journeyfsm --version
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":  # importing the module (as doc tools do) runs nothing
    sys.exit(main())

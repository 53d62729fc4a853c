#!/usr/bin/env python3
"""The integration guide's load test, as the guide spells it::

    python test-temporal-load.py --workflows 100 --concurrent 10

The same command as ``flov7 load-test`` (same options, report and exit codes; see
``--help`` and docs/performance.md): it only hands its arguments to the CLI.
"""

from __future__ import annotations

import sys

from flov7.cli import main

if __name__ == "__main__":
    main(["load-test", *sys.argv[1:]])

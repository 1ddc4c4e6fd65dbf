"""Launcher for the AkiDb.Queue Python bridge.

The worker runs ``python3 -I -B /abs/path/python/akidb_bridge.py``. Isolated
mode (-I) ignores PYTHONPATH and the user site, and does not put this script's
directory on sys.path, so the package next to this file is added explicitly.
The package is called akidb_bridge_core because a package named like this
script would shadow it.
"""

import os
import sys
import time

_STARTED = time.monotonic()  # before numpy and ONNX Runtime load, so startup_ms includes them

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from akidb_bridge_core.channel import open_frame_channel  # noqa: E402  (standard library only)

if __name__ == "__main__":
    # Claim stdout for frames before numpy or ONNX Runtime get a chance to print.
    _CHANNEL = open_frame_channel()
    from akidb_bridge_core.server import run_and_exit

    run_and_exit(started=_STARTED, channel=_CHANNEL)

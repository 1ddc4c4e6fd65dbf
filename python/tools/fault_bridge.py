"""A bridge with injectable faults, for the worker's supervision tests.

Run it exactly like the real launcher (``python3 -I -B python/tools/fault_bridge.py``)
with ``AKIDB_BRIDGE_FAULTS`` in the environment (``-I`` ignores PYTHON*
variables only). The value is a comma-separated list of ``action=token_id``:
an embed whose payload contains ``token_id`` triggers ``action``:

* ``kill``          SIGKILL itself before answering (a native crash / OOM kill)
* ``exit``          exit with code 9 before answering
* ``garbage``       write bytes that are not a frame on the frame channel
* ``close_stdout``  close the frame channel and keep running (reads go on)
* ``hang``          never answer and never read again (a deadlocked model)
* ``raise``         raise inside inference (-> error inference_failed)
* ``print``         print() and write to fd 1 directly, then answer normally:
                    the noise must land on stderr, the frame must be intact

Example: ``AKIDB_BRIDGE_FAULTS=kill=999,hang=998``. Token ids, not request
ids, pick the faulty request because that is what a poison message carries.

Two more switches, for transient faults and outages:

* ``AKIDB_BRIDGE_FAULT_ONCE_DIR``: each (action, token) fires once across
  restarts; a marker file created with O_EXCL in that folder remembers it.
  Without it a fault fires every time (a poison message).
* ``AKIDB_BRIDGE_GATE_FILE``: the bridge refuses to start (exit 1 before
  ``ready``) while this file does not exist: a bridge that cannot be started.
"""

import os
import sys
import time

_STARTED = time.monotonic()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from akidb_bridge_core.channel import open_frame_channel  # noqa: E402

ACTIONS = ("kill", "exit", "garbage", "close_stdout", "hang", "raise", "print")


def parse_faults(spec: str) -> dict:
    """{token_id: action}; a malformed spec fails loudly rather than testing nothing."""
    faults = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        action, _, token = part.partition("=")
        if action not in ACTIONS or not token.strip().lstrip("-").isdigit():
            raise SystemExit(f"fault_bridge: bad AKIDB_BRIDGE_FAULTS entry {part!r}; "
                             f"expected action=token_id with action in {ACTIONS}")
        faults[int(token)] = action
    return faults


def first_time(action: str, token: int) -> bool:
    """True unless once-only faults are on and this one already fired."""
    folder = os.environ.get("AKIDB_BRIDGE_FAULT_ONCE_DIR")
    if not folder:
        return True
    try:
        os.close(os.open(os.path.join(folder, f"{action}-{token}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False


def make_server_class(faults: dict):
    import signal
    import threading

    import numpy as np

    from akidb_bridge_core.server import BridgeServer

    class FaultyBridgeServer(BridgeServer):
        def handle_embed(self, header, payload):
            present = set(np.frombuffer(payload, dtype="<i8").tolist()) if len(payload) % 8 == 0 else set()
            for token, action in faults.items():
                if token in present and first_time(action, token):
                    self.log.warning("injecting fault", action=action, token=token)
                    if self.inject(action):
                        return
            super().handle_embed(header, payload)

        def inject(self, action: str) -> bool:
            """Returns True when the request must not be answered."""
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif action == "exit":
                sys.stderr.flush()
                os._exit(9)
            elif action == "garbage":
                self.writer.write_raw(b"this is not a frame\n" * 4)
                return True
            elif action == "close_stdout":
                self.writer.close()
                return True
            elif action == "hang":
                threading.Event().wait()
            elif action == "raise":
                raise RuntimeError("injected inference failure")
            elif action == "print":
                print("stray print() from inside the bridge", flush=True)
                os.write(1, b"stray write to fd 1 from inside the bridge\n")
            return False

    return FaultyBridgeServer


if __name__ == "__main__":
    _GATE = os.environ.get("AKIDB_BRIDGE_GATE_FILE")
    if _GATE and not os.path.exists(_GATE):
        sys.stderr.write(f"fault_bridge: gate file {_GATE} is missing; refusing to start\n")
        sys.exit(1)
    _CHANNEL = open_frame_channel()
    _FAULTS = parse_faults(os.environ.get("AKIDB_BRIDGE_FAULTS", ""))
    from akidb_bridge_core.server import run_and_exit

    run_and_exit(make_server_class(_FAULTS), started=_STARTED, channel=_CHANNEL)

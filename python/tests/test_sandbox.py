"""The bridge's sandbox (akidb_bridge_core/sandbox.py): code run under it cannot open a network socket, gains no
privileges and has its limits; the real launcher applies it when the init frame asks and reports it in ready.

Every restriction is irreversible, so each check runs in a child process, never in the test runner."""

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import unittest

import support
import tiny_onnx
from support import BridgeProcess, init_message

from akidb_bridge_core import sandbox

LINUX_WITH_FILTER = sys.platform.startswith("linux") and platform.machine() in sandbox.ARCHITECTURES
LIBRARY = support.ort_library()

# Runs in a fresh interpreter: applies the sandbox, then reports what works and what is refused.
CHILD = r"""
import errno, json, os, resource, socket, sys
sys.path.insert(0, sys.argv[1])
from akidb_bridge_core import sandbox
settings = sandbox.SandboxSettings.from_json(json.loads(sys.argv[2]))
report = sandbox.apply(settings, machine=sys.argv[3] or None)
sandbox.limit_address_space(settings, report, ["CPU"])

def attempt(family, kind=socket.SOCK_STREAM):
    try:
        socket.socket(family, kind).close()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def pair():
    try:
        a, b = socket.socketpair(socket.AF_UNIX)
        a.sendall(b"x"); got = b.recv(1); a.close(); b.close()
        return "ok" if got == b"x" else "wrong"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

print(json.dumps({
    "report": report,
    "inet": attempt(socket.AF_INET), "inet_udp": attempt(socket.AF_INET, socket.SOCK_DGRAM),
    "inet6": attempt(socket.AF_INET6), "netlink": attempt(socket.AF_NETLINK, socket.SOCK_RAW),
    "unix": attempt(socket.AF_UNIX), "unix_pair": pair(),
    "status": sandbox.status_fields(),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE), "as": resource.getrlimit(resource.RLIMIT_AS),
    "child_status": __import__("subprocess").run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout,
}))
"""


def run_child(settings, machine=""):
    out = subprocess.run([sys.executable, "-I", "-B", "-c", CHILD, support.PYTHON_DIR, json.dumps(settings), machine],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"child exited {out.returncode}: {out.stderr}")
    return json.loads(out.stdout)


class SettingsTests(unittest.TestCase):
    def test_defaults_restrict_and_limits_are_opt_in(self):
        settings = sandbox.SandboxSettings.from_json({})
        self.assertEqual((settings.no_new_privs, settings.deny_network), (True, True))
        self.assertEqual((settings.max_address_space_bytes, settings.max_open_files), (0, 0))

    def test_bad_values_are_named(self):
        for bad, key in (({"deny_network": "yes"}, "deny_network"), ({"max_open_files": -1}, "max_open_files"),
                         ({"max_address_space_bytes": True}, "max_address_space_bytes")):
            with self.assertRaisesRegex(ValueError, key):
                sandbox.SandboxSettings.from_json(bad)
        with self.assertRaises(ValueError):
            sandbox.SandboxSettings.from_json([])

    def test_elsewhere_every_part_is_reported_off(self):
        report = sandbox.apply(sandbox.SandboxSettings(), system="darwin")
        self.assertEqual({o["part"] for o in report["off"]}, {"no_new_privs", "network", "limits"})
        self.assertFalse(report["no_new_privs"])

    def test_the_filter_is_twelve_instructions_of_eight_bytes(self):
        program = sandbox.network_filter(sandbox.ARCHITECTURES["x86_64"])
        self.assertEqual([len(i) for i in program], [8] * 12)


@unittest.skipUnless(LINUX_WITH_FILTER, "seccomp filter for Linux on x86_64/aarch64 only")
class RestrictedChildTests(unittest.TestCase):
    def test_no_tcp_udp_or_netlink_socket_but_unix_sockets_work(self):
        result = run_child({"max_open_files": 64, "max_address_space_bytes": 4 << 30})

        self.assertEqual(result["report"]["off"], [])
        for family in ("inet", "inet_udp", "inet6", "netlink"):
            self.assertIn(result[family], ("EPERM", "EACCES"), family)
        self.assertEqual((result["unix"], result["unix_pair"]), ("ok", "ok"))
        self.assertEqual(result["status"], {"NoNewPrivs": "1", "Seccomp": "2"})
        self.assertEqual(result["report"]["network"], "unix sockets only (seccomp)")
        self.assertEqual(result["nofile"], [64, 64])
        self.assertEqual(result["as"], [4 << 30, 4 << 30])
        self.assertEqual(result["report"]["max_address_space_bytes"], 4 << 30)
        # What it starts inherits every restriction.
        self.assertRegex(result["child_status"], r"NoNewPrivs:\s+1")
        self.assertRegex(result["child_status"], r"Seccomp:\s+2")

    def test_without_deny_network_sockets_stay_open(self):
        result = run_child({"deny_network": False, "no_new_privs": True})
        self.assertEqual(result["inet"], "ok")
        self.assertEqual(result["status"], {"NoNewPrivs": "1", "Seccomp": "0"})

    def test_an_architecture_without_a_filter_says_the_network_part_is_off(self):
        result = run_child({}, machine="riscv64")
        self.assertEqual(result["inet"], "ok")
        self.assertEqual(result["report"]["off"], [{"part": "network", "reason": "no seccomp filter for the riscv64 architecture"}])
        self.assertEqual(result["status"]["NoNewPrivs"], "1")


@unittest.skipUnless(LINUX_WITH_FILTER, "seccomp filter for Linux on x86_64/aarch64 only")
@unittest.skipUnless(support.numpy_available(), "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
class LauncherTests(unittest.TestCase):
    """The real launcher, as the worker starts it, with the init frame's sandbox."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.tiny = tiny_onnx.write_model(os.path.join(cls.tmp, "tiny.onnx"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def ready(self, **overrides):
        bridge = BridgeProcess()
        self.addCleanup(bridge.close)
        models = [{"name": "tiny", "path": self.tiny, "pooling": "mean", "normalize": False}]
        header, _ = bridge.request(init_message(models, LIBRARY, **overrides))
        self.assertEqual(header["type"], "ready", header)
        return bridge, header

    def test_ready_reports_the_restrictions_the_process_has(self):
        bridge, ready = self.ready(sandbox={"no_new_privs": True, "deny_network": True,
                                            "max_address_space_bytes": 8 << 30, "max_open_files": 128})

        report = ready["sandbox"]
        self.assertEqual(report["off"], [])
        self.assertEqual((report["no_new_privs"], report["network"]), (True, "unix sockets only (seccomp)"))
        self.assertEqual((report["max_address_space_bytes"], report["max_open_files"]), (8 << 30, 128))
        self.assertEqual(sandbox.status_fields(str(bridge.proc.pid)), {"NoNewPrivs": "1", "Seccomp": "2"})
        with open(f"/proc/{bridge.proc.pid}/limits", encoding="ascii") as f:
            limits = f.read()
        self.assertRegex(limits, r"Max address space\s+%d\s+%d" % (8 << 30, 8 << 30))
        self.assertRegex(limits, r"Max open files\s+128\s+128")
        # And it still embeds.
        header, _ = bridge.request({"type": "ping", "id": 7})
        self.assertEqual(header["type"], "pong")

    def test_without_a_sandbox_object_nothing_is_restricted(self):
        bridge, ready = self.ready()
        self.assertNotIn("sandbox", ready)
        self.assertEqual(sandbox.status_fields(str(bridge.proc.pid))["Seccomp"], "0")

    def test_a_bad_sandbox_object_fails_init_naming_the_key(self):
        bridge = BridgeProcess()
        self.addCleanup(bridge.close)
        header, _ = bridge.request(init_message([], LIBRARY, sandbox={"max_open_files": "many"}))
        self.assertEqual(header["code"], "init_failed")
        self.assertIn("sandbox.max_open_files", header["message"])


if __name__ == "__main__":
    unittest.main()

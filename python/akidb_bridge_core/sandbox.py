"""The bridge's sandbox: no new privileges, no network, bounded address space and open files.

The bridge runs model files and native code (ONNX Runtime, numpy) for a
worker that holds broker and cache credentials. Its environment is already
scrubbed of those; this takes away what else a compromised bridge could use:

* ``no_new_privs`` (prctl PR_SET_NO_NEW_PRIVS): no setuid/setgid/file
  capabilities on exec, for this process and anything it starts.
* network: a seccomp filter lets ``socket()``/``socketpair()`` create only
  AF_UNIX sockets and refuses io_uring (which can create sockets without the
  ``socket`` system call); anything else fails with EPERM. The bridge talks
  to the worker over its stdin/stdout pipes and needs no socket at all.
  The filter is a small classic-BPF program loaded through ctypes: the
  standard library has no seccomp binding and PyPI is not an option here
  (and libseccomp's Python module is not in Debian's python3 either), and
  the program is a dozen instructions, tested in tests/test_sandbox.py.
* RLIMIT_AS and RLIMIT_NOFILE (the standard ``resource`` module).

A part the platform refuses (not Linux, an architecture without a filter
here, a kernel without seccomp, a container that forbids it) is reported as
off with the reason; the rest still applies. The report goes into the ready
frame and the worker logs one line per part that is off.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

# prctl(2) and seccomp(2)
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

# Classic BPF as seccomp reads it (linux/filter.h, linux/seccomp.h).
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16  # little-endian: the low 32 bits of args[0], the socket domain

AF_UNIX = 1


@dataclass(frozen=True)
class Architecture:
    audit_arch: int
    socket: int
    socketpair: int
    io_uring_setup: int
    seccomp: int  # the seccomp(2) system call itself
    x32_bit: Optional[int] = None  # x86_64's second ABI: its numbers carry this bit


ARCHITECTURES = {
    "x86_64": Architecture(audit_arch=0xC000003E, socket=41, socketpair=53, io_uring_setup=425, seccomp=317,
                           x32_bit=0x40000000),
    "aarch64": Architecture(audit_arch=0xC00000B7, socket=198, socketpair=199, io_uring_setup=425, seccomp=277),
}


@dataclass(frozen=True)
class SandboxSettings:
    """What the worker asks for in the init frame's ``sandbox`` object (docs/bridge-protocol.md)."""

    no_new_privs: bool = True
    deny_network: bool = True
    max_address_space_bytes: int = 0  # 0: no limit
    max_open_files: int = 0  # 0: no limit

    @classmethod
    def from_json(cls, obj: Any) -> "SandboxSettings":
        if not isinstance(obj, dict):
            raise ValueError("sandbox must be a JSON object")
        values: Dict[str, Any] = {}
        for key in ("no_new_privs", "deny_network"):
            value = obj.get(key, True)
            if not isinstance(value, bool):
                raise ValueError(f"sandbox.{key} must be true or false")
            values[key] = value
        for key in ("max_address_space_bytes", "max_open_files"):
            value = obj.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"sandbox.{key} must be a non-negative integer")
            values[key] = value
        return cls(**values)


def network_filter(arch: Architecture) -> List[bytes]:
    """The seccomp program: sockets only of the AF_UNIX family, no io_uring, nothing of another ABI."""
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    program: List[tuple] = []

    def emit(code: int, k: int, jt: int = 0, jf: int = 0) -> None:
        program.append((code, jt, jf, k))

    # Indexes below are fixed by the layout; jumps are relative to the next instruction.
    emit(BPF_LD_W_ABS, OFFSET_ARCH)  # 0
    emit(BPF_JEQ_K, arch.audit_arch, 0, 9)  # 1: another ABI's calls (i386's socketcall): -> 11 deny
    emit(BPF_LD_W_ABS, OFFSET_NR)  # 2
    emit(BPF_JGE_K, arch.x32_bit or 0xFFFFFFFF, 7, 0)  # 3: x32 numbers -> 11 deny
    emit(BPF_JEQ_K, arch.socket, 3, 0)  # 4: -> 8 check the domain
    emit(BPF_JEQ_K, arch.socketpair, 2, 0)  # 5: -> 8
    emit(BPF_JEQ_K, arch.io_uring_setup, 4, 0)  # 6: -> 11 deny
    emit(BPF_RET_K, SECCOMP_RET_ALLOW)  # 7: everything else
    emit(BPF_LD_W_ABS, OFFSET_ARG0_LOW)  # 8
    emit(BPF_JEQ_K, AF_UNIX, 0, 1)  # 9: -> 10 allow, else -> 11 deny
    emit(BPF_RET_K, SECCOMP_RET_ALLOW)  # 10
    emit(BPF_RET_K, deny)  # 11
    return [struct.pack("=HBBI", *instruction) for instruction in program]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    libc.prctl.restype = ctypes.c_int
    libc.syscall.restype = ctypes.c_long
    return libc


def _error(what: str) -> str:
    code = ctypes.get_errno()
    return f"{what} failed: {os.strerror(code)} (errno {code})"


def _install_filter(libc: ctypes.CDLL, arch: Architecture) -> Optional[str]:
    """Loads the network filter on every thread of the process; None, or why it could not."""
    code = b"".join(network_filter(arch))
    instructions = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.addressof(instructions))
    # seccomp(2) with TSYNC puts the filter on threads that already exist (numpy's BLAS may have started some);
    # prctl only on the calling thread, so it is the fallback for kernels before 3.17.
    result = libc.syscall(ctypes.c_long(arch.seccomp), ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
                          ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC), ctypes.c_void_p(ctypes.addressof(prog)))
    if result == 0:
        return None
    if result > 0:
        return f"seccomp could not synchronise thread {result}"
    if ctypes.get_errno() != errno.ENOSYS:
        return _error("seccomp(SECCOMP_SET_MODE_FILTER)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        return _error("prctl(PR_SET_SECCOMP)")
    return None


def _set_limit(kind: int, value: int) -> Optional[str]:
    import resource

    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY and hard < value:
        value = hard  # already tighter: keep it
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError) as e:
        return str(e)
    return None


def status_fields(pid: str = "self") -> Dict[str, str]:
    """NoNewPrivs and Seccomp as the kernel reports them (Linux only)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            pairs = (line.split(":", 1) for line in f if ":" in line)
            return {k: v.strip() for k, v in pairs if k in ("NoNewPrivs", "Seccomp")}
    except OSError:
        return {}


def apply(settings: SandboxSettings, machine: Optional[str] = None, system: Optional[str] = None) -> Dict[str, Any]:
    """Restricts this process (call before loading any model) except the address space, which
    ``limit_address_space`` does once the models are loaded; returns the report for the ready frame."""
    machine = machine or platform.machine()
    system = system or sys.platform
    off: List[Dict[str, str]] = []
    report: Dict[str, Any] = {"no_new_privs": False, "network": "allowed", "max_open_files": None,
                              "max_address_space_bytes": None, "off": off}
    if not system.startswith("linux"):
        for part in ("no_new_privs", "network", "limits"):
            off.append({"part": part, "reason": f"not supported on {system}"})
        return report

    libc = _libc()
    if settings.no_new_privs or settings.deny_network:
        # Also what lets an unprivileged process load a seccomp filter at all.
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
            report["no_new_privs"] = True
        else:
            off.append({"part": "no_new_privs", "reason": _error("prctl(PR_SET_NO_NEW_PRIVS)")})

    if settings.deny_network:
        arch = ARCHITECTURES.get(machine)
        if arch is None:
            off.append({"part": "network", "reason": f"no seccomp filter for the {machine} architecture"})
        elif not report["no_new_privs"]:
            off.append({"part": "network", "reason": "seccomp needs no_new_privs, which was refused"})
        else:
            reason = _install_filter(libc, arch)
            if reason is None:
                report["network"] = "unix sockets only (seccomp)"
            else:
                off.append({"part": "network", "reason": reason})

    if settings.max_open_files:
        import resource

        reason = _set_limit(resource.RLIMIT_NOFILE, settings.max_open_files)
        if reason is None:
            report["max_open_files"] = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        else:
            off.append({"part": "max_open_files", "reason": reason})

    report.update({k.lower(): v for k, v in status_fields().items()})
    return report


def limit_address_space(settings: SandboxSettings, report: Dict[str, Any], providers: List[str]) -> None:
    """RLIMIT_AS once the models are loaded: CUDA reserves far more address space than it uses, so a
    bridge with a model on CUDA is left without the limit (and says so)."""
    if not settings.max_address_space_bytes or not sys.platform.startswith("linux"):
        return
    if "CUDA" in providers:
        report["off"].append({"part": "max_address_space", "reason": "a model runs on CUDA, which reserves more "
                                                                      "address space than it uses"})
        return
    import resource

    reason = _set_limit(resource.RLIMIT_AS, settings.max_address_space_bytes)
    if reason is None:
        report["max_address_space_bytes"] = resource.getrlimit(resource.RLIMIT_AS)[1]
    else:
        report["off"].append({"part": "max_address_space", "reason": reason})

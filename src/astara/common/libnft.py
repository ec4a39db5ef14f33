"""libnftables through ctypes: run nftables commands in-process, no `nft` fork.

Used by the appliance agent (`apply.nft.NftLib`) and by the compute agent's runner
(the anti-spoofing chains of a plug). A floating IP delta through the `nft` binary
costs ~15 ms (exec, then a full cache dump of the table); the same text through the
library costs well under 1 ms. libnftables opens its netlink socket in the
namespace of the thread that makes the context, and every call is made inside the
appliance's namespace, so a `Context` makes one for each call and frees it after
(~16 us): no appliance holds a socket between calls. Calls are serialized by a lock
(status reads run beside an apply).

libnftables waits on that socket with ``select()``: a socket numbered FD_SETSIZE (1024)
or above makes glibc abort the whole agent ("bit out of range"). A context kept per
appliance held one low number each, so at ~1,000 appliances on a host none was left
and every apply forked `nft` twice (~225 ms per first push at 1,000 routers). Now the
low numbers in use are two per apply running at that moment (the script's memfd and
the library's socket); if none is free anyway,
`NoLowDescriptor` tells the caller to use the `nft` binary (a fresh process, few
descriptors) for that appliance. A context given a ``lock_timeout`` (the compute
agent's one, shared by every worker) raises `Busy` when the call before holds the
lock longer: the caller then runs `nft`, whose process has a timeout.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

OUTPUT_JSON = 1 << 4
_lib: ctypes.CDLL | None = None
FD_SETSIZE = 1024
# Other threads may open descriptors between the check and the socket's creation.
FD_HEADROOM = 64


class Unavailable(RuntimeError):
    """The library cannot take this call: use the ``nft`` binary for it."""


class NoLowDescriptor(Unavailable):
    """No descriptor below FD_SETSIZE is safely free for a new libnftables socket."""


class Busy(Unavailable):
    """Another call held the context's lock past the caller's wait."""


def lowest_free_fd() -> int:
    """The number the next descriptor this process opens would get."""
    fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.close(fd)
    return fd


def load() -> ctypes.CDLL:
    """The library, or OSError when it is not installed."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(ctypes.util.find_library("nftables") or "libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_char_p
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_run_cmd_from_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _lib = lib
    return _lib


# How a script's lines are named in errors: as ``nft -f -`` names them.
INPUT_NAME = "/dev/stdin"


class Context:
    """``lock_timeout``: how long a call waits for the one before it (None: for ever).
    A call into the library cannot be interrupted (``nft`` had a 30 s timeout): with
    a wait, one that hangs blocks its own caller, and each later call waits
    ``lock_timeout`` for the lock before it gets ``Busy`` and runs ``nft`` (which fails
    on its own timeout if the kernel is what hangs)."""

    def __init__(self, lock_timeout: float | None = None) -> None:
        self._lib = load()
        self._lock = threading.Lock()
        self._lock_timeout = lock_timeout

    def run(self, text: str, json: bool = False) -> tuple[int, str, str]:
        """(return code, output, error output) of `text`, one transaction, run in the
        calling thread's namespace. The text is read from a memfd by name, not from a
        buffer: libnftables (1.0.6) shows a buffer's first line for an error the
        kernel reports on another, with no line number; a file's errors name the line
        (``/dev/stdin:3:19-25:``, as ``nft -f -``) and show it."""
        wait = -1 if self._lock_timeout is None else self._lock_timeout
        if not self._lock.acquire(timeout=wait):
            raise Busy(f"libnftables busy for over {self._lock_timeout} s")
        try:
            lib = self._lib
            if lowest_free_fd() >= FD_SETSIZE - FD_HEADROOM - 1:  # the memfd too
                raise NoLowDescriptor("no descriptor below FD_SETSIZE for libnftables")
            fd = os.memfd_create("nft-script", os.MFD_CLOEXEC)
            ctx = lib.nft_ctx_new(0)
            try:
                os.write(fd, text.encode())  # a memfd takes any length in one write
                name = f"/proc/self/fd/{fd}"
                lib.nft_ctx_buffer_output(ctx)
                lib.nft_ctx_buffer_error(ctx)
                lib.nft_ctx_output_set_flags(ctx, OUTPUT_JSON if json else 0)
                rc = lib.nft_run_cmd_from_filename(ctx, name.encode())
                out = lib.nft_ctx_get_output_buffer(ctx) or b""
                err = lib.nft_ctx_get_error_buffer(ctx) or b""
                return rc, out.decode(), err.decode().replace(f"{name}:", f"{INPUT_NAME}:")
            finally:
                lib.nft_ctx_free(ctx)
                os.close(fd)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Nothing is held between calls."""

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
low numbers in use are one per apply running at that moment; if none is free anyway,
`NoLowDescriptor` tells the caller to use the `nft` binary (a fresh process, few
descriptors) for that appliance.
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


class NoLowDescriptor(RuntimeError):
    """No descriptor below FD_SETSIZE is safely free for a new libnftables socket."""


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
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _lib = lib
    return _lib


class Context:
    def __init__(self) -> None:
        self._lib = load()
        self._lock = threading.Lock()

    def run(self, text: str, json: bool = False) -> tuple[int, str, str]:
        """(return code, output, error output) of `text`, one transaction, run in the
        calling thread's namespace."""
        with self._lock:
            lib = self._lib
            if lowest_free_fd() >= FD_SETSIZE - FD_HEADROOM:
                raise NoLowDescriptor("no descriptor below FD_SETSIZE for libnftables")
            ctx = lib.nft_ctx_new(0)
            try:
                lib.nft_ctx_buffer_output(ctx)
                lib.nft_ctx_buffer_error(ctx)
                lib.nft_ctx_output_set_flags(ctx, OUTPUT_JSON if json else 0)
                rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
                out = lib.nft_ctx_get_output_buffer(ctx) or b""
                err = lib.nft_ctx_get_error_buffer(ctx) or b""
                return rc, out.decode(), err.decode()
            finally:
                lib.nft_ctx_free(ctx)

    def close(self) -> None:
        """Nothing is held between calls."""

"""One line, not a traceback, when a command cannot start: shared by every ``astara-*`` main.

``@one_line_errors("astara-x")`` wraps an entry point's ``main``. A wrong
configuration (a missing or malformed ini file, a value of the wrong type, a
required option absent, any ``ConfigError``), a database that cannot be reached
or whose URL is wrong, a service it must reach at start and cannot, or a file under
the state path (or a config file) it may not touch becomes ``astara-x: <what is
wrong>`` on stderr and exit status 1. Anything else -- an integrity error, an
unknown option, a permission refused elsewhere -- is a bug and keeps its
traceback; ``explain`` is the pure rule deciding which is which.

No database or HTTP library is imported here: the appliance agent shares this
and must stand without a database library (``.importlinter``). An error of such
a library can only be raised once the library is loaded, so it is looked up in
``sys.modules``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from oslo_config import cfg


class ConfigError(Exception):
    """A configuration an operator must fix; the message says what, in one line."""


# oslo.config names where a bad value came from with a repr; an operator wants the file.
_LOCATION = re.compile(r"from LocationInfo\(location=<[^>]*>, detail='([^']*)'\)")


# oslo.config errors an operator causes (a file, a value); the others (NoSuchOptError,
# DuplicateOptError, ...) are the program's bugs.
_OPERATOR_CFG_ERRORS = (cfg.ConfigFilesNotFoundError, cfg.ConfigFileParseError,
                        cfg.ConfigFileValueError, cfg.RequiredOptError,
                        cfg.ConfigFilesPermissionDeniedError, cfg.ConfigDirNotFoundError)

# Where an operator decides who may read and write: the state path and config files,
# noted by ``settings.load`` once they are known (``note_operator_paths``).
_operator_paths: list[str] = []


def note_operator_paths(paths: Iterable[str | os.PathLike]) -> None:
    """Remember the state path and config files: a refused access there is the operator's."""
    _operator_paths[:] = [os.path.abspath(p) for p in paths]


def _is_under(path: str, roots: Iterable[str]) -> bool:
    path = os.path.abspath(path)
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _one_line(text: str) -> str:
    return " ".join(_LOCATION.sub(r"in \1", text).split())


def _database_error(exc: BaseException) -> str | None:
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is None:
        return None
    if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError):
        return f"[database] connection is not a usable URL: {_one_line(str(exc))}"
    # Only a connection that failed; an IntegrityError or ProgrammingError is a bug.
    if isinstance(exc, sa.OperationalError | sa.InterfaceError):
        # The driver's own message (its first line), without SQLAlchemy's SQL and link.
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else \
            type(exc.orig).__name__
        return f"database unreachable or unusable ([database] connection): {reason}"
    return None


def explain(exc: BaseException, paths: Iterable[str] | None = None) -> str | None:
    """The one line an operator reads for ``exc``, or None if it is a bug (keep the trace).

    ``paths``: the state path and config files (default: those ``note_operator_paths``
    was given); a permission refused anywhere else is a bug."""
    if isinstance(exc, ConfigError):
        return _one_line(str(exc))
    if isinstance(exc, cfg.ConfigFilesNotFoundError):
        return f"config file not found or unreadable: {', '.join(exc.config_files)}"
    if isinstance(exc, cfg.ConfigFileValueError):
        return _one_line(str(exc))
    if isinstance(exc, cfg.ConfigFileParseError):
        return f"malformed config file {exc.config_file}: {_one_line(exc.msg)}"
    if isinstance(exc, _OPERATOR_CFG_ERRORS):
        return _one_line(str(exc))
    if isinstance(exc, PermissionError) and exc.filename and \
            _is_under(os.fsdecode(exc.filename),
                      _operator_paths if paths is None else paths):
        return f"{exc.strerror}: {exc.filename} (run as the service's user, or change " \
               f"state_path)"
    return _database_error(exc) or _service_error(exc)


def _service_error(exc: BaseException) -> str | None:
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TransportError):
        try:
            where = str(exc.request.url)
        except RuntimeError:  # no request attached
            where = "a service"
        return f"cannot reach {where} (check the service URLs in the config): " \
               f"{_one_line(str(exc)) or type(exc).__name__}"
    return None


def one_line_errors(prog: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate an entry point's ``main`` so configuration errors are one line on stderr."""

    def wrap(main: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(main)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return main(*args, **kwargs)
            except Exception as exc:
                line = explain(exc)
                if line is None:
                    raise
                raise SystemExit(f"{prog}: {line}") from None

        return run

    return wrap

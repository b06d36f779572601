"""Refuse network connections that would leave the machine.

The course promises that, offline, nothing talks to the outside world. :func:`install` makes that
checkable: afterwards any attempt to look up or connect to an address outside loopback raises
:class:`NetworkLeakError` at once, instead of waiting for a time-out. Tests install it for the whole
session; notebooks install it when ``PERSISTLAB_NETWORK_GUARD=1`` (CI sets it).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

from persistlab.config import GUARD_ENV

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class NetworkLeakError(RuntimeError):
    """Code tried to open a connection to a non-loopback address."""


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like stay on the machine
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        _refuse(address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_loopback(host.decode() if isinstance(host, bytes) else host):
        _refuse(host)
    return _original_getaddrinfo(host, *args, **kwargs)


def _refuse(target: Any) -> None:
    raise NetworkLeakError(
        f"Blocked a connection to {target!r}: the course runs offline and may only use loopback. "
        "Something tried to reach the network (a real API, a model download?)."
    )


_original_getaddrinfo = socket.getaddrinfo
_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _original_connect_ex(self, address)


def install() -> None:
    """Make every later non-loopback ``connect`` in this process raise :class:`NetworkLeakError`."""
    socket.getaddrinfo = _guarded_getaddrinfo
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]  # the guard wraps every socket
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]  # likewise


def install_from_env() -> bool:
    """Install the guard if ``PERSISTLAB_NETWORK_GUARD=1``; return whether it is on."""
    if os.environ.get(GUARD_ENV) == "1":
        install()
        return True
    return False

"""Fetching an http(s) init picture named in an API request without letting the server be pointed at itself or the
LAN: the URL is read strictly (no user info, no backslashes, no odd characters), the host is resolved once, every
address it resolves to must be global, and the connection goes to the address that was checked (so DNS rebinding
cannot swap it), with no redirects, a size cap and a time cap."""
from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipelines import ImageInputError

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT_S, TOTAL_TIMEOUT_S = 10, 30
_SAFE_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[\x21-\x7e]*)?$")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str, what: str) -> Target:
    """The URL's parts; an ImageInputError for anything but a plain http(s)://host[:port]/path."""
    if not _SAFE_URL.match(url) or "\\" in url:
        raise ImageInputError(f"{what}: {url!r} is not a plain http(s) URL (no user info, spaces or backslashes)")
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ImageInputError(f"{what}: {url!r} has a bad port") from None
    if not parts.hostname or parts.username or parts.password:
        raise ImageInputError(f"{what}: {url!r} has no host")
    path = parts.path or "/"
    return Target(parts.scheme, parts.hostname, port, path + (f"?{parts.query}" if parts.query else ""))


def resolve_global(host: str, port: int, what: str) -> str:
    """The one address to connect to; refused when any address the name resolves to is not a global one (loopback,
    private, link-local, mapped, reserved ... in any spelling)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as e:
        raise ImageInputError(f"{what}: cannot resolve {host}: {e}") from None
    addresses = [info[4][0].split("%")[0] for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None)
        if not ip.is_global or (mapped is not None and not mapped.is_global):
            raise ImageInputError(f"{what}: {host} resolves to a private address ({address}): refused")
    if not addresses:
        raise ImageInputError(f"{what}: cannot resolve {host}")
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate checked for the URL's host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def download(target: Target, address: str, what: str) -> bytes:
    """GET the path from `address`, with the URL's Host; at most MAX_DOWNLOAD_BYTES, within TOTAL_TIMEOUT_S."""
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(address, target.host, target.port, CONNECT_TIMEOUT_S)
    else:
        connection = http.client.HTTPConnection(address, target.port, timeout=CONNECT_TIMEOUT_S)
    deadline = time.monotonic() + TOTAL_TIMEOUT_S
    try:
        connection.request("GET", target.path, headers={"Host": target.host, "User-Agent": "img2img-webui"})
        response = connection.getresponse()
        if response.status != 200:
            raise ImageInputError(f"{what}: the server answered {response.status} {response.reason} (redirects are "
                                  "not followed)")
        chunks, size = [], 0
        while size <= MAX_DOWNLOAD_BYTES:
            if time.monotonic() > deadline:
                raise ImageInputError(f"{what}: the download took longer than {TOTAL_TIMEOUT_S} s")
            chunk = response.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, http.client.HTTPException) as e:
        raise ImageInputError(f"{what}: could not download from {target.host}: {e}") from None
    finally:
        connection.close()
    if size > MAX_DOWNLOAD_BYTES:
        raise ImageInputError(f"{what}: larger than {MAX_DOWNLOAD_BYTES} bytes")
    return b"".join(chunks)


def fetch_url(url: str, what: str, allowed: bool) -> bytes:
    if not allowed:
        raise ImageInputError(f"{what}: http(s) URLs are refused on this server (the setting api_enable_requests "
                              "allows them)")
    target = parse_url(url, what)
    return download(target, resolve_global(target.host, target.port, what), what)

"""Which network addresses a camera URL may reach (no SSRF through a camera URL).

A camera URL is untrusted input: an integrator types it, the API accepts it. Left alone, the monitor
would fetch whatever it names — the metadata service of the cloud it runs on (169.254.169.254), the
database on localhost, the city's internal network. So every host a camera URL names (and every
redirect it follows) is resolved, and each address is refused when it is loopback, link-local,
private, carrier-grade NAT, multicast, reserved, unspecified or a known metadata address — unless it
falls inside a network allow-listed in cameras.yaml (`monitor.allow_networks`, e.g. the city's
camera VLAN, or 127.0.0.1/32 in the tests).

    policy = UrlPolicy(["10.20.0.0/16"])
    policy.check("http://camera.example/snap.jpg")   # raises UrlRefused / DnsFailure with a reason

Known limit: the address is checked when resolved here; the HTTP client resolves again when it
connects, so a DNS server that answers differently within the cache TTL (DNS rebinding) could slip
through. Pin resolution in the transport if that threat matters.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Iterable
from urllib.parse import urlsplit

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, ECS task metadata, Alibaba, AWS IPv6).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))


class UrlRefused(Exception):
    """The URL may not be fetched. `reason` names the host, the address and why."""

    def __init__(self, reason: str, kind: str = "policy"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class DnsFailure(UrlRefused):
    def __init__(self, reason: str):
        super().__init__(reason, kind="dns")


def address_class(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public one (None when it is public)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved / not global"
    return None


class UrlPolicy:
    """Allow public addresses and the allow-listed networks; refuse the rest.

    allow: networks or single addresses ("127.0.0.1", "10.20.0.0/16").
    resolve: host -> addresses (default: getaddrinfo), cached `cache_s` seconds."""

    def __init__(self, allow: Iterable[str] = (), *, cache_s: float = 30.0, resolve=None):
        self.allow = tuple(ipaddress.ip_network(a, strict=False) for a in allow)
        self.cache_s = cache_s
        self._resolve = resolve or _getaddrinfo
        self._cache: dict[str, tuple[float, tuple]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"UrlPolicy(allow={[str(n) for n in self.allow]})"

    def allowed(self, ip) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allow if ip.version == net.version)

    def addresses(self, host: str) -> tuple:
        try:
            return (ipaddress.ip_address(host.strip("[]")),)
        except ValueError:
            pass
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(host)
            if hit and hit[0] > now:
                return hit[1]
        try:
            addrs = tuple(ipaddress.ip_address(a.split("%")[0]) for a in self._resolve(host))
        except (socket.gaierror, UnicodeError) as e:
            raise DnsFailure(f"DNS failure: cannot resolve host {host!r} ({getattr(e, 'strerror', None) or e})") from None
        if not addrs:
            raise DnsFailure(f"DNS failure: host {host!r} has no addresses")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[host] = (now + self.cache_s, addrs)
        return addrs

    def check_host(self, host: str) -> None:
        if not host:
            raise UrlRefused("URL has no host")
        for ip in self.addresses(host):
            why = address_class(ip)
            if why and not self.allowed(ip):
                shown = host if host.strip("[]") == str(ip) else f"{host} resolves to {ip}"
                raise UrlRefused(f"refused: {shown} is a {why} address; camera URLs may reach it only "
                                 f"if monitor.allow_networks in cameras.yaml lists it")

    def check(self, url: str) -> None:
        """Raise UrlRefused (or DnsFailure) unless every address of the URL's host is allowed."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError as e:
            raise UrlRefused(f"malformed URL {url!r}: {e}") from None
        self.check_host(host or "")


def _getaddrinfo(host: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


ALLOW_ALL = None  # pass as a policy to skip checking (file sources, tests of the sources themselves)

"""Who is asking: the client's address, as lock-outs, rate limits and logs see it.

Behind a reverse proxy every request comes from the proxy's address; the proxy appends the address it saw to
X-Forwarded-For. Only the entries that trusted proxies appended can be believed: a client can send any
X-Forwarded-For it likes, so its own entries are at the left. Reading from the right and skipping our proxies
gives the first address no proxy of ours vouches for, which is the client as our outermost proxy saw it.
"""

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    """The right-most X-Forwarded-For entry that is not a trusted proxy, when the request comes from one
    (settings.TRUSTED_PROXIES, DJANGO_TRUSTED_PROXIES); otherwise the address the connection came from."""
    remote = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted(remote):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed(forwarded.split(",")):
        address = _address(entry)
        if address is None:
            return remote  # not written by a proxy of ours (they write addresses): believe nothing further left
        if not _is_trusted(address):
            return address
    return remote


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _is_trusted(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in settings.TRUSTED_PROXIES)

"""The container's health check: exits 0 when /healthz on this machine answers 200, 1 otherwise.

Django refuses a Host header outside DJANGO_ALLOWED_HOSTS (400), so the request names the first allowed host
rather than 127.0.0.1, which a production host list does not contain.
"""

import http.client
import os
import sys


def allowed_host(allowed_hosts: str) -> str:
    """A host name DJANGO_ALLOWED_HOSTS accepts: its first entry, as a name (".example.org" allows example.org)."""
    first = next((host.strip() for host in allowed_hosts.split(",") if host.strip()), "localhost")
    return "localhost" if first == "*" else first.lstrip(".")


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(
            "GET", "/healthz", headers={"Host": allowed_host(os.environ.get("DJANGO_ALLOWED_HOSTS", ""))}
        )
        response = connection.getresponse()
        body = response.read(500).decode(errors="replace")
    except OSError as error:
        print(f"/healthz unreachable on port {port}: {error}", file=sys.stderr)
        return 1
    if response.status != 200:
        print(f"/healthz answered {response.status}: {body} (the site's log says why)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Who can reach the app: serving beyond this machine needs sign-in.

The app binds 127.0.0.1 by default (RAG_SERVER_ADDRESS, `.streamlit/config.toml`).
Any other address (another interface, or 0.0.0.0 for all of them) is refused while
accounts are off, by `scripts/run.sh` before Streamlit starts and by the app itself
when started another way.  Encryption in transit is a reverse proxy's job (README,
Security).
"""

from __future__ import annotations

import ipaddress

from rag_core.errors import ConfigurationError


def is_loopback(address: str) -> bool:
    address = address.strip().strip("[]")
    if address in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name or "" (all interfaces): reachable from elsewhere


def check_exposure(address: str, auth_enabled: bool) -> None:
    """Raises ConfigurationError when `address` reaches beyond this machine and
    nobody has to sign in."""
    if auth_enabled or is_loopback(address):
        return
    shown = address or "every network interface"
    raise ConfigurationError(
        f"Refusing to serve on {shown} with sign-in turned off (RAG_AUTH_ENABLED=false): "
        "anyone on the network could read the documents. Turn sign-in on, or serve on "
        "127.0.0.1 (behind a TLS reverse proxy for other machines; README, Security)."
    )

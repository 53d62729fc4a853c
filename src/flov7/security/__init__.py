"""Security guards for what workflows can reach (see :mod:`flov7.security.ssrf`)."""

from flov7.security.ssrf import (
    ALLOWLIST_VARIABLE,
    GuardedNetworkBackend,
    GuardedTransport,
    OutboundBlockedError,
    OutboundPolicy,
    blocked_reason,
)

__all__ = [
    "ALLOWLIST_VARIABLE",
    "GuardedNetworkBackend",
    "GuardedTransport",
    "OutboundBlockedError",
    "OutboundPolicy",
    "blocked_reason",
]

"""Wire layer: CDS Hooks JSON wire models (pydantic), shared by hooks/ (protocol) and services/ (cards)."""

from cds_service.wire.cards import (
    SUMMARY_MAX_CHARS,
    Action,
    Card,
    CdsResponse,
    Coding,
    Link,
    Source,
    Suggestion,
)
from cds_service.wire.discovery import DiscoveryResponse, ServiceDescriptor

__all__ = [
    "SUMMARY_MAX_CHARS", "Action", "Card", "CdsResponse", "Coding", "DiscoveryResponse", "Link",
    "ServiceDescriptor", "Source", "Suggestion",
]

"""Protocol layer: the per-process state the hook routes share (settings, config, store, registry, pools)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from cds_service.hooks.audit import AuditWriter
from cds_service.hooks.auth import JwksCache, JwtVerifier
from cds_service.hooks.prefetch import PrefetchResolver
from cds_service.services.registry import ServiceRegistry
from cds_service.settings import Settings
from cds_service.store.db import Store

if TYPE_CHECKING:
    from cds_service.admin.provider import ConfigProvider

EXTENSION_KEY = "cds_service"


@dataclass
class ServiceState:
    settings: Settings
    config_provider: ConfigProvider
    store: Store
    registry: ServiceRegistry
    session: requests.Session
    pool: ThreadPoolExecutor
    resolver: PrefetchResolver = field(init=False)
    audit: AuditWriter = field(init=False)
    _jwks: JwksCache = field(init=False)
    _verifiers: dict[str, JwtVerifier | None] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.resolver = PrefetchResolver(self.session, self.pool)
        self.audit = AuditWriter(self.store)
        self._jwks = JwksCache()

    def verifier(self, active: Any) -> JwtVerifier | None:
        """The JWT verifier of a configuration version (built once per version); None when auth is off."""
        version = str(active.version)
        with self._lock:
            if version not in self._verifiers:
                issuers = active.config.security.trusted_issuers
                self._verifiers[version] = (
                    JwtVerifier(issuers, self.store, jwks_cache=self._jwks) if issuers else None
                )
            return self._verifiers[version]

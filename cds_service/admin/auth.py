"""Admin layer: admin users (scrypt-hashed passwords, roles reader/editor), bootstrap from env, session key."""

from __future__ import annotations

import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from cds_service.store.config_versions import ConfigVersionStore

log = logging.getLogger(__name__)

ROLES = ("reader", "editor")
MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
ENV_BOOTSTRAP_USER = "CDS_ADMIN_BOOTSTRAP_USER"
ENV_BOOTSTRAP_PASSWORD = "CDS_ADMIN_BOOTSTRAP_PASSWORD"
ENV_SECRET_KEY = "CDS_ADMIN_SECRET_KEY"
# A real hash of a random string: checking unknown users costs the same time as known ones.
_DUMMY_HASH = generate_password_hash("not-a-real-password-3f1e9a", method="scrypt")


@dataclass(frozen=True)
class AdminUser:
    username: str
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


class UserError(ValueError):
    """A user could not be created (bad name, weak password, unknown role)."""


class UserStore:
    def __init__(self, versions: ConfigVersionStore, throttle: LoginThrottle | None = None) -> None:
        self.versions = versions
        self.throttle = throttle or LoginThrottle()

    def set_user(self, username: str, password: str, role: str) -> None:
        if not _USERNAME.match(username):
            raise UserError("username: letters, digits and . _ @ - only (max 80)")
        if role not in ROLES:
            raise UserError(f"role: must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
        self.versions.upsert_user(username, generate_password_hash(password, method="scrypt"), role)

    def authenticate(self, username: str, password: str) -> AdminUser | None:
        """The user when the password matches; None otherwise, and always None while the name is locked out."""
        if self.throttle.locked(username):
            log.info("admin login refused: too many failures for this user name")
            return None
        row = self.versions.get_user(username) if _USERNAME.match(username or "") else None
        if row is None or row.disabled:
            check_password_hash(_DUMMY_HASH, password or "")
            self.throttle.failed(username)
            return None
        if not check_password_hash(row.password_hash, password or ""):
            self.throttle.failed(username)
            return None
        self.throttle.succeeded(username)
        return AdminUser(row.username, row.role)

    def get(self, username: str) -> AdminUser | None:
        row = self.versions.get_user(username)
        if row is None or row.disabled:
            return None
        return AdminUser(row.username, row.role)

    def bootstrap(self, environ: Mapping[str, str] | None = None) -> bool:
        """Create the first editor from CDS_ADMIN_BOOTSTRAP_USER/PASSWORD when no admin user exists yet."""
        env = os.environ if environ is None else environ
        username, password = env.get(ENV_BOOTSTRAP_USER, ""), env.get(ENV_BOOTSTRAP_PASSWORD, "")
        if not username or not password:
            return False
        if self.versions.count_users() > 0:
            return False
        try:
            self.set_user(username, password, "editor")
        except UserError as exc:
            log.error("admin bootstrap user not created: %s", exc)
            return False
        except Exception:  # a concurrent worker created it first: fine
            return False
        log.info("admin bootstrap user created (role editor)")
        return True


def session_secret(versions: ConfigVersionStore, environ: Mapping[str, str] | None = None) -> str:
    """CDS_ADMIN_SECRET_KEY, else a random key kept in the database and shared by every worker and replica."""
    env = os.environ if environ is None else environ
    return env.get(ENV_SECRET_KEY) or versions.shared_secret("admin-session-key")


def tokens_equal(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class LoginThrottle:
    """Refuses a username for `lockout_seconds` after `max_failures` failed logins within that window.

    Per process (each worker counts on its own): it slows password guessing without a shared store write
    on every attempt; the lockout is by username so one noisy client cannot lock everyone out.
    """

    def __init__(self, max_failures: int = 5, lockout_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window, self.clock = max_failures, lockout_seconds, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, username: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(username, []) if now - t < self.window]
        if recent:
            self._failures[username] = recent
        else:
            self._failures.pop(username, None)
        return recent

    def locked(self, username: str) -> bool:
        with self._lock:
            return len(self._recent(username, self.clock())) >= self.max_failures

    def failed(self, username: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(username, now)
            self._failures.setdefault(username, []).append(now)
            if len(self._failures) > 10_000:  # bounded memory under a flood of made-up names
                self._failures.clear()

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)

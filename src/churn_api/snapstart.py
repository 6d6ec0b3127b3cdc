"""Make what a SnapStart snapshot must not share fresh again after each restore: AWS clients and random state.

With SnapStart, Lambda runs the init phase once, snapshots the memory and resumes many environments from that one
snapshot. Whatever init made is then shared by all of them: a boto3 client's open connections (dead after the
restore) and its cached credentials (the init's, not the restored environment's), and the seed of every random
generator. Lambda's Python runtime ships `snapshot_restore_py` and runs what `register_after_restore` registered
after each restore, within 10 s. It is no dependency of this package: locally, install() finds no runtime hooks.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from typing import Any

import boto3
import numpy as np
from botocore.config import Config

log = logging.getLogger(__name__)


def fresh_session() -> boto3.session.Session:
    """Return a new boto3 session: it reads the credentials from the environment again when it makes a client."""
    # boto3.client() would reuse the default session, which keeps the credentials it resolved during init.
    return boto3.session.Session()


class RenewableClient:
    """A boto3 client that can be replaced by a fresh one; every attribute is the current client's."""

    def __init__(
        self, service: str, config: Config | None = None, session: boto3.session.Session | None = None
    ) -> None:
        self.service = service
        self.config = config
        # The session that made the current client, and the client every attribute is read from.
        self.session = session or fresh_session()
        self.current: Any = self._make(self.session)

    def _make(self, session: boto3.session.Session) -> Any:
        return session.client(self.service, config=self.config)  # type: ignore[call-overload]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)

    def renew(self, session: boto3.session.Session | None = None) -> None:
        """Close the current client's connections and make a new client (from `session`, else a new one)."""
        self.session = session or fresh_session()
        old, self.current = self.current, self._make(self.session)
        old.close()


def reseed_random() -> None:
    """Reseed Python's and numpy's global generators from the OS, so restored environments do not draw alike."""
    random.seed(os.urandom(32))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))


class RestoreHooks:
    """What to do after every restore from a snapshot: reseed, renew the clients, then the added hooks in order."""

    def __init__(self) -> None:
        self.clients: list[RenewableClient] = []
        self.hooks: list[Callable[[], None]] = []

    def add(self, hook: Callable[[], None]) -> None:
        """Run `hook` after each restore, after the clients are renewed."""
        self.hooks.append(hook)

    def renew(self, *clients: RenewableClient) -> None:
        """Renew these clients after each restore, all from one new session (one load of botocore's models)."""
        self.clients.extend(clients)

    def run(self) -> None:
        """Run everything; Lambda calls this after a restore."""
        reseed_random()
        if self.clients:
            session = fresh_session()
            for client in self.clients:
                client.renew(session)
        for hook in self.hooks:
            hook()
        log.info("restored from a snapshot: %d clients renewed, %d hooks ran", len(self.clients), len(self.hooks))

    def install(self) -> bool:
        """Register `run` with Lambda's runtime; return False where the runtime has no SnapStart hooks (locally)."""
        try:
            # Only Lambda's runtime has it.
            from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # noqa: PLC0415
        except ImportError:
            return False
        register_after_restore(self.run)
        return True

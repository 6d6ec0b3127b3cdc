"""Make what a SnapStart snapshot must not share fresh again after each restore: AWS clients and random state.

With SnapStart, Lambda runs the init phase once, snapshots the memory and resumes many environments from that one
snapshot. Whatever init made is then shared by all of them: a boto3 client's open connections (dead after the
restore) and its cached credentials (the init's, not the restored environment's), and the seed of every random
generator. Lambda's Python runtime ships `snapshot_restore_py` (not on PyPI's default install here, nor needed
locally) and runs the functions registered with `register_after_restore` after each restore, within 10 s.
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


def fresh_client(service: str, config: Config | None = None) -> Any:
    """Return a client from a new boto3 session, so that credentials are read again from the environment."""
    # boto3.client() would reuse the default session, which keeps the credentials it resolved during init.
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


class RenewableClient:
    """A boto3 client that can be replaced by a fresh one; every attribute is the current client's."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client = factory()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def renew(self) -> None:
        """Close the current client's connections and make a new client."""
        old, self._client = self._client, self._factory()
        close = getattr(old, "close", None)
        if close is not None:
            close()


def reseed_random() -> None:
    """Reseed Python's and numpy's global generators from the OS, so restored environments do not draw alike."""
    random.seed(os.urandom(32))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))


class RestoreHooks:
    """The functions to run after every restore from a snapshot, in the order they were added."""

    def __init__(self) -> None:
        self.hooks: list[Callable[[], None]] = [reseed_random]

    def add(self, hook: Callable[[], None]) -> None:
        """Run `hook` after each restore."""
        self.hooks.append(hook)

    def renew(self, *clients: RenewableClient) -> None:
        """Renew these clients after each restore."""
        for client in clients:
            self.add(client.renew)

    def run(self) -> None:
        """Run every hook; Lambda calls this after a restore."""
        for hook in self.hooks:
            hook()
        log.info("restored from a snapshot: %d hooks ran", len(self.hooks))

    def install(self) -> bool:
        """Register `run` with Lambda's runtime; return False where the runtime has no SnapStart hooks (locally)."""
        try:
            from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
        except ImportError:
            return False
        register_after_restore(self.run)
        return True

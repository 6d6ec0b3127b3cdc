"""After a SnapStart restore: fresh AWS clients with the restored environment's credentials, and fresh randomness."""

from __future__ import annotations

import random
import sys
import types
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from churn_api.snapstart import RenewableClient, RestoreHooks


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDINITPHASE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "init-secret")
    return monkeypatch


# One operation per service the function uses, with what it needs, to presign.
PRESIGNABLE = {
    "s3": ("get_object", {"Bucket": "b", "Key": "k"}),
    "sagemaker-runtime": ("invoke_endpoint", {"EndpointName": "e", "Body": b""}),
    "sagemaker": ("describe_endpoint", {"EndpointName": "e"}),
}


def access_key(client: Any) -> str:
    """Return the access key a client signs with, as a presigned request states it (SigV4, or S3's SigV2 query)."""
    method, params = PRESIGNABLE[client.meta.service_model.service_name]
    url = client.generate_presigned_url(ClientMethod=method, Params=params, ExpiresIn=60)
    query = parse_qs(urlsplit(url).query)
    credential = (query.get("X-Amz-Credential") or query["AWSAccessKeyId"])[0]
    return credential.split("/", 1)[0]


def test_a_renewed_client_signs_with_the_credentials_of_the_restored_environment(
    credentials: pytest.MonkeyPatch,
) -> None:
    s3 = RenewableClient("s3")
    assert access_key(s3.current) == "AKIDINITPHASE"
    # Lambda gives the restored environment its own credentials.
    credentials.setenv("AWS_ACCESS_KEY_ID", "AKIDRESTORED")
    assert access_key(s3.current) == "AKIDINITPHASE"
    s3.renew()
    assert access_key(s3.current) == "AKIDRESTORED"
    # The wrapper answers as the client does.
    assert s3.meta.service_model.service_name == "s3"
    assert s3.meta.region_name == "eu-west-1"


def test_renewing_closes_the_old_clients_connections_and_makes_a_new_client(credentials: pytest.MonkeyPatch) -> None:
    wrapper = RenewableClient("sagemaker-runtime")
    old = wrapper.current
    closed: list[Any] = []
    old.close = lambda: closed.append(old)  # type: ignore[method-assign]
    wrapper.renew()
    assert wrapper.current is not old
    assert closed == [old]
    assert wrapper.meta.service_model.service_name == "sagemaker-runtime"


def test_restored_environments_from_one_snapshot_draw_different_random_numbers() -> None:
    random.seed(7)
    np.random.seed(7)
    snapshot = (random.getstate(), np.random.get_state())
    draws = []
    for _ in range(2):
        random.setstate(snapshot[0])
        np.random.set_state(snapshot[1])
        RestoreHooks().run()
        draws.append((random.random(), float(np.random.random())))
    assert draws[0][0] != draws[1][0]
    assert draws[0][1] != draws[1][1]


def test_after_a_restore_every_client_is_renewed_from_one_session_before_the_hooks_run(
    credentials: pytest.MonkeyPatch,
) -> None:
    clients = [RenewableClient("s3"), RenewableClient("sagemaker-runtime"), RenewableClient("sagemaker")]
    before = [c.current for c in clients]
    order: list[str] = []
    hooks = RestoreHooks()
    hooks.add(lambda: order.append("first" if clients[0].current is not before[0] else "too early"))
    hooks.renew(*clients)
    hooks.add(lambda: order.append("last"))
    credentials.setenv("AWS_ACCESS_KEY_ID", "AKIDRESTORED")
    hooks.run()
    assert order == ["first", "last"]
    assert all(c.current is not b for c, b in zip(clients, before, strict=True))
    assert {access_key(c.current) for c in clients} == {"AKIDRESTORED"}
    # One session for all: botocore loads its models once per restore.
    assert len({id(c.session) for c in clients}) == 1


def test_install_registers_with_lambdas_runtime_hooks_and_is_a_no_op_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    assert RestoreHooks().install() is False
    registered: list[Any] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    hooks = RestoreHooks()
    assert hooks.install() is True
    assert registered == [hooks.run]

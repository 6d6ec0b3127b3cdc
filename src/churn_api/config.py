"""Read the function's configuration from the environment variables that template.yaml declares."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from churn_api.provenance import UNPINNED, VERSION_LENGTH
from churn_api.rules import is_probability

# InvokeEndpoint's request limit by endpoint kind (SageMaker quotas: real-time 6 MB, serverless 4 MB); an endpoint
# the stack does not create ("external") may be either, so it gets the smaller. Chunks stay at 5/6 of the limit.
ENDPOINT_PAYLOAD_LIMITS = {"real-time": 6_000_000, "serverless": 4_000_000, "external": 4_000_000}


class ConfigError(RuntimeError):
    """A required environment variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Deployment settings, validated once per container."""

    endpoint_name: str
    transform_bucket: str
    transform_key: str
    # No default here: template.yaml always sets THRESHOLD (the published ModelThreshold, or the Threshold override).
    threshold: float
    cors_allow_origins: tuple[str, ...] = ()
    enable_swagger: bool = False
    endpoint_kind: str = "external"
    transform_sha256: str = ""
    feature_signature: str = ""
    bucket_owner: str = ""
    eager_init: bool = False
    # The pinned model version (make publish's ModelVersion), named in every answer.
    model_version: str = UNPINNED
    # Where the stack hosts the model: the archive the endpoint must serve (readiness checks it).
    model_data_url: str = ""
    # The share of scored customers written to the log for the drift check (DRIFT_SAMPLE_PERCENT / 100); 0 is off.
    sample_rate: float = 0.0

    @property
    def max_chunk_bytes(self) -> int:
        """Return the most CSV bytes one InvokeEndpoint call may carry for this kind of endpoint."""
        return ENDPOINT_PAYLOAD_LIMITS[self.endpoint_kind] * 5 // 6

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment, failing fast on anything missing or invalid."""
        env = os.environ if environ is None else environ
        return cls(
            endpoint_name=required(env, "ENDPOINT_NAME"),
            transform_bucket=required(env, "TRANSFORM_BUCKET"),
            transform_key=required(env, "TRANSFORM_KEY"),
            threshold=_threshold(required(env, "THRESHOLD")),
            cors_allow_origins=_origins(env.get("CORS_ALLOW_ORIGINS", "")),
            enable_swagger=_flag(env, "ENABLE_SWAGGER"),
            endpoint_kind=_choice(env, "ENDPOINT_KIND", tuple(ENDPOINT_PAYLOAD_LIMITS), "external"),
            transform_sha256=_hex_digest(env, "TRANSFORM_SHA256"),
            feature_signature=_hex_digest(env, "FEATURE_SIGNATURE"),
            bucket_owner=_account(env, "TRANSFORM_BUCKET_OWNER"),
            eager_init=_flag(env, "EAGER_INIT"),
            model_version=_hex_digest(env, "MODEL_VERSION", VERSION_LENGTH) or UNPINNED,
            model_data_url=env.get("MODEL_DATA_URL", "").strip(),
            sample_rate=_percent(env, "DRIFT_SAMPLE_PERCENT") / 100,
        )


def required(env: Mapping[str, str], name: str) -> str:
    """Return a variable's value, or raise ConfigError naming it when it is missing or blank."""
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required and is not set")
    return value


def _threshold(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"THRESHOLD must be a number between 0 and 1, got {raw!r}") from None
    if not is_probability(value):
        raise ConfigError(f"THRESHOLD must be a number between 0 and 1, got {raw!r}")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"CORS_ALLOW_ORIGINS entries must be http(s) origins or *, got {origin!r}")
    return origins


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip() or default
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _hex_digest(env: Mapping[str, str], name: str, length: int = 64) -> str:
    raw = env.get(name, "").strip().lower()
    if raw and (len(raw) != length or any(c not in "0123456789abcdef" for c in raw)):
        raise ConfigError(f"{name} must be {length} hex digits or empty, got {raw!r}")
    return raw


def _account(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    if raw and not (len(raw) == 12 and raw.isdigit()):
        raise ConfigError(f"{name} must be a 12-digit AWS account id or empty, got {raw!r}")
    return raw


def _percent(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip() or "0"
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number from 0 to 100, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise ConfigError(f"{name} must be a number from 0 to 100, got {raw!r}")
    return value

"""Lambda entry point: the composition root (the routes are routes.py's) and the split between API Gateway and direct
invocation."""

from __future__ import annotations

# isort: off
# First, so that the collector is tuned before the libraries below create their objects.
from churn_api import collector  # noqa: F401
# isort: on

import gc
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import CORSConfig
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from churn_api import budget
from churn_api.budget import EAGER_LOAD_BUDGET_S, READY_BUDGET_S, Deadline
from churn_api.composition import churn_predictor, transformation_store
from churn_api.config import Settings
from churn_api.contract import Categories, ContractResolver, categories_of
from churn_api.errors import ApiError, ErrorReporter, InvalidRequest, problems_from, register_error_handlers
from churn_api.gateway import is_api_gateway_event, read_json, request_id_of, with_canonical_media_type, write_json
from churn_api.gateway_answers import SECURITY_SCHEMES
from churn_api.health import ReadinessCheck
from churn_api.models import Customer
from churn_api.provenance import MODEL_VERSION_HEADER
from churn_api.routes import Services, api_routes
from churn_api.rules import MAX_BATCH_SIZE
from churn_api.snapstart import RenewableClient, RestoreHooks, fresh_session

API_TITLE = "churn-api"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Score telecom customers for churn. POST one customer to /predict or up to "
    f"{MAX_BATCH_SIZE} to /predict/batch; field names are the reference payload's."
)

settings = Settings.from_env()
logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ChurnApi")
# The function calls AWS through botocore alone: patching every module X-Ray supports (sqlite3, requests, httpx...)
# only costs cold-start time.
tracer = Tracer(patch_modules=["botocore"])
reporter = ErrorReporter(logger, metrics.namespace or "ChurnApi")
# Every log line names the model version, so that two versions' lines can be told apart during a canary.
logger.append_keys(model_version=settings.model_version)

# The clients every prediction needs are made once per container, from one session; the control-plane client only
# by readiness. After a SnapStart restore they are renewed, with the restored environment's credentials.
session = fresh_session()
s3 = RenewableClient("s3", budget.s3_config(), session)
sagemaker_runtime = RenewableClient("sagemaker-runtime", budget.sagemaker_runtime_config(), session)
# What the load imports (scikit-learn, scipy) lives as long as the container: see the end of this module.
transformations = transformation_store(settings, s3, on_loaded=gc.freeze)
predictor = churn_predictor(
    settings,
    transformations,
    sagemaker_runtime,
    on_endpoint_latency=lambda ms: metrics.add_metric(name="EndpointLatency", unit=MetricUnit.Milliseconds, value=ms),
)
readiness = ReadinessCheck(
    transformations,
    lambda: fresh_session().client("sagemaker", config=budget.sagemaker_config()),
    settings.endpoint_name,
    model=predictor.model,
    model_data_url=settings.model_data_url,
)
restore_hooks = RestoreHooks()
restore_hooks.renew(s3, sagemaker_runtime)
restore_hooks.install()


def load_eagerly() -> None:
    """Load the transformation during init (EAGER_INIT, set with SnapStart) so that the snapshot holds it."""
    try:
        transformations.get(Deadline.after(EAGER_LOAD_BUDGET_S))
    except ApiError as exc:
        # Remembered by the store: requests answer TRANSFORMATION_UNAVAILABLE and retry the load after the backoff.
        reporter.report(exc)


def loaded_categories() -> Categories:
    """Return the categories of the transformation this container holds (loading it if need be), or none."""
    try:
        return categories_of(transformations.get(Deadline.after(READY_BUDGET_S)))
    except ApiError:
        return {}


def record_predictions(predictions: int, churners: int) -> None:
    """Count predictions and churners; CloudWatch derives the churn rate from the two."""
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=predictions)
    metrics.add_metric(name="ChurnPredictions", unit=MetricUnit.Count, value=churners)
    if predictions:
        metrics.add_metric(name="ChurnRate", unit=MetricUnit.Percent, value=100 * churners / predictions)


cors = (
    CORSConfig(
        allow_origin=settings.cors_allow_origins[0],
        extra_origins=list(settings.cors_allow_origins[1:]),
        allow_headers=["Content-Type", "X-Api-Key"],
        expose_headers=["X-Amzn-RequestId", "Retry-After", MODEL_VERSION_HEADER],
        max_age=600,
    )
    if settings.cors_allow_origins
    else None
)
app = ContractResolver(
    categories=loaded_categories,
    enable_validation=True,
    cors=cors,
    json_body_deserializer=read_json,
    serializer=write_json,
)
app.configure_openapi(
    title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION, security_schemes=SECURITY_SCHEMES
)
if settings.enable_swagger:
    # Powertools inlines the Swagger UI assets in the page: no CDN, works offline.
    app.enable_swagger(path="/swagger", title=API_TITLE, version=API_VERSION)
register_error_handlers(app, reporter)
app.include_router(api_routes(Services(predictor, readiness, record_predictions)))
if settings.eager_init:
    load_eagerly()
# Everything made so far lives as long as the container. Out of the collector's sight, it is not traversed again
# by every full collection that a request's garbage triggers.
gc.freeze()  # the collector's thresholds are set by churn_api.collector, before any other import


def invoke_direct(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Score the customer that a direct invocation (e.g. the Lambda console test) sends as the event."""
    try:
        prediction = predictor.predict_one(Customer.model_validate(event), Deadline.of(context))
        record_predictions(1, int(prediction.churn))
        return prediction.model_dump()
    except ValidationError as exc:
        error: ApiError = InvalidRequest("the event is not a valid customer", problems_from(exc.errors()))
    except Exception as exc:
        error = reporter.as_api_error(exc)
    reporter.report(error)
    return {"statusCode": error.status, **error.body(context.aws_request_id)}


def traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Make each invocation an X-Ray subsegment, where tracing is on.

    In Lambda the template turns X-Ray on. Where tracing is off (Powertools turns it off outside Lambda and under
    sam local), the subsegment would be a dummy that goes nowhere, built for about 10 us a request.
    """
    return handler if tracer.disabled else tracer.capture_lambda_handler(handler, capture_response=False)


@logger.inject_lambda_context(log_event=False)
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route an API Gateway event through the resolver, or score a directly invoked customer."""
    # What correlation_id_path=correlation_paths.API_GATEWAY_REST would set, without a JMESPath search (3 us).
    logger.set_correlation_id(request_id_of(event))
    try:
        if is_api_gateway_event(event):
            app.append_context(deadline=Deadline.of(context))  # type: ignore[no-untyped-call]
            response = app.resolve(with_canonical_media_type(event), context)
            # Every answer names the model this function serves; the bodies that involved it name it too.
            response.setdefault("multiValueHeaders", {})[MODEL_VERSION_HEADER] = [settings.model_version]
            return response
        return invoke_direct(event, context)
    finally:
        # Metrics are flushed as one EMF document per invocation; a health check may have none to flush. The model
        # version rides along as metadata (no dimension, no extra metric): Logs Insights can group by it.
        if metrics.metric_set:
            metrics.add_metadata(key="model_version", value=settings.model_version)
            metrics.flush_metrics()

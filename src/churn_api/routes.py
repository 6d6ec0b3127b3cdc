"""The API's routes, as a Powertools Router: scoring one customer or a batch, liveness and readiness.

What the routes need (the predictor, the readiness check, the counting of predictions) is handed to `api_routes` by
the composition root, app.py, which includes the router in its resolver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from churn_api.budget import READY_BUDGET_S
from churn_api.errors import SCORING_ERRORS, PayloadTooLarge, error_responses
from churn_api.gateway_answers import PREDICT_SECURITY, with_gateway_answers
from churn_api.health import ReadinessCheck
from churn_api.models import BatchRequest, BatchResponse, Customer, PlainestFirst, Prediction, Readiness
from churn_api.predictor import ChurnPredictor
from churn_api.provenance import MODEL_VERSION_HEADER
from churn_api.rules import MAX_BATCH_SIZE


@dataclass(frozen=True)
class Services:
    """What the routes call: the predictor, the readiness check, and what counts predictions and churners."""

    predictor: ChurnPredictor
    readiness: ReadinessCheck
    record_predictions: Callable[[int, int], None]


def json_response(description: str, model: type[Any]) -> OpenAPIResponse:
    """Describe a JSON response with the model that shapes its body."""
    return {"description": description, "content": {"application/json": {"model": model}}}


def naming_the_model(responses: Mapping[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    """Add the X-Model-Version header to the function's own responses of a scoring route (not API Gateway's)."""
    header: OpenAPIResponseHeader = {
        "description": "The version of the model this function serves; equals the body's model.version where the "
        "body names a model.",
        "schema": {"type": "string"},
    }
    return {
        status: {**response, "headers": {**response.get("headers", {}), MODEL_VERSION_HEADER: header}}
        for status, response in responses.items()
    }


def api_routes(services: Services) -> Router:
    """Return the router of the API's routes, each calling `services`."""
    router = Router()  # type: ignore[no-untyped-call]

    @router.post(
        "/predict",
        summary="Score one customer",
        responses=with_gateway_answers(
            naming_the_model({200: json_response("The prediction", Prediction), **error_responses(SCORING_ERRORS)})
        ),
        tags=["predict"],
        security=PREDICT_SECURITY,
    )
    def predict(customer: Annotated[Customer, Body(), PlainestFirst]) -> Prediction:
        """Score one customer posted as JSON."""
        prediction = services.predictor.predict_one(customer, router.context["deadline"])
        services.record_predictions(1, int(prediction.churn))
        return prediction

    @router.post(
        "/predict/batch",
        summary=f"Score 1 to {MAX_BATCH_SIZE} customers",
        description=(
            "Each record is validated on its own: bad records come back with their index and an error, "
            "and do not stop the others. If no record is valid, the answer is 400. "
            f"More than {MAX_BATCH_SIZE} records is answered with 413."
        ),
        responses=with_gateway_answers(
            naming_the_model(
                {
                    200: json_response("One result per record, in input order", BatchResponse),
                    **error_responses((*SCORING_ERRORS, PayloadTooLarge)),
                }
            )
        ),
        tags=["predict"],
        security=PREDICT_SECURITY,
    )
    def predict_batch(batch: Annotated[BatchRequest, Body()]) -> BatchResponse:
        """Score many customers at once, in input order."""
        scored = services.predictor.score_batch(batch.customers, router.context["deadline"])
        services.record_predictions(scored.scored, sum(item.churn is True for item in scored.results))
        return scored

    @router.get("/health", summary="Liveness: the function answers", tags=["health"])
    def health() -> dict[str, str]:
        """Answer at once, touching nothing else."""
        return {"status": "ok"}

    @router.get(
        "/health/ready",
        summary=(
            f"Readiness: the transformation loads and the endpoint is InService (answered within {READY_BUDGET_S:g} s)"
        ),
        responses={
            200: json_response("Ready", Readiness),
            503: json_response("Not ready; the body says which part is not", Readiness),
        },
        tags=["health"],
    )
    def health_ready() -> Response[dict[str, Any]]:
        """Check the transformation and DescribeEndpoint; 503 when either is not ready."""
        report = services.readiness.check(router.context["deadline"])
        status = 200 if report.status == "ready" else 503
        return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=report.model_dump())

    return router

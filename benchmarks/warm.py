"""The warm path in one process: the reference-style function, scikit-learn's transform, our handler, a floor.

S3 is moto in-process and the SageMaker endpoint an instant stand-in that answers one score per CSV line, so only
the function's own work is timed. Every variant runs on the same real rows, in the same process, one after the
other: compare the ratios, not the absolute figures, on a shared machine.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import pickle
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import boto3
import numpy as np
from moto import mock_aws

from churn_api.budget import Deadline

# Through models, not rules: `benchmarks.warm_versus REV` imports this module with revisions older than rules.py.
from churn_api.models import MAX_BATCH_SIZE, Customer  # type: ignore[attr-defined]
from churn_api.preprocessing import Transformation
from churn_local.constants import LOCAL_REGION
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import api_event
from churn_local.lambda_runtime.runner import InstantEndpoint
from churn_local.lambda_runtime.runtime import (
    UNUSABLE_CREDENTIALS,
    daemon_port,
    handler_environment,
    lambda_runtime_environment,
    xray_daemon,
)
from churn_local.template.expansion import default_threshold

BATCH_SIZES = (1, 10, 100, 1_000, 10_000)
# The decision the deployed function makes: template.yaml's Threshold default.
THRESHOLD = default_threshold()
BUCKET = "churn-bench-artifacts"
KEY = "transformation.sav"
# One context serves a whole run of timed invocations: its clock must not run out meanwhile.
LONG_ENOUGH_MS = 3_600_000
FUNCTION_ENV = {
    **handler_environment(EndpointName="churn-bench", TransformBucket=BUCKET, TransformKey=KEY, LogLevel="WARNING"),
    **UNUSABLE_CREDENTIALS,
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def median_ms(call: Callable[[], Any], budget_s: float = 0.3, at_least: int = 7, at_most: int = 3000) -> float:
    """Run `call` until the budget is spent (within the bounds) and return its median duration in ms."""
    gc.collect()  # start each variant without the previous one's garbage
    call()  # warm-up: first-call work (Powertools builds its validation models lazily) is not what is timed
    samples: list[float] = []
    spent = 0.0
    while len(samples) < at_least or (spent < budget_s and len(samples) < at_most):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
        spent += samples[-1]
    return statistics.median(samples) * 1000


def route_event(path: str, body: Any) -> dict[str, Any]:
    """Return API Gateway's REST proxy event for a JSON POST to path."""
    event = api_event(body)
    event.update(path=path, resource=path)
    event["requestContext"].update(resourcePath=path, path=f"/Prod{path}")
    return event


def handler_events(payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the events that carry the payloads: one /predict, or /predict/batch events of at most MAX_BATCH_SIZE."""
    if len(payloads) == 1:
        return [route_event("/predict", payloads[0])]
    chunks = [payloads[i : i + MAX_BATCH_SIZE] for i in range(0, len(payloads), MAX_BATCH_SIZE)]
    return [route_event("/predict/batch", {"customers": list(chunk)}) for chunk in chunks]


def reference_function(s3: Any, endpoint: InstantEndpoint) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Write the reference design: per request, download and unpickle the transformation, transform, score."""
    # Imported here (and MAX_BATCH_SIZE through models): `benchmarks.warm_versus REV` imports this module with REV's
    # churn_api, which may predate churn_api.rules.
    from churn_api.rules import churns  # noqa: PLC0415

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(event["body"])
        records = body.get("customers", [body])
        saved = pickle.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())  # noqa: S301 - own artifact
        obj_cols, num_cols = saved["obj_cols"], saved["num_cols"]
        categorical = [[int(r[c]) if c == "Area Code" else r[c] for c in obj_cols] for r in records]
        numeric = [[float(r[c]) for c in num_cols] for r in records]
        encoded = saved["One_Hot"].transform(np.array(categorical, dtype=object))
        encoded = encoded.toarray() if hasattr(encoded, "toarray") else encoded
        features = np.hstack([encoded, saved["scaler"].transform(np.array(numeric))])
        csv = "\n".join(",".join(str(v) for v in row) for row in features.tolist())
        answer = endpoint.invoke_endpoint(EndpointName="churn", ContentType="text/csv", Body=csv.encode())
        scores = [float(s) for s in answer["Body"].read().split()]
        results = [{"churn": churns(s, THRESHOLD), "score": s} for s in scores]
        return {"statusCode": 200, "body": json.dumps(results)}

    return handler


def floor(saved: dict[str, Any]) -> Callable[[Sequence[dict[str, Any]]], list[list[float]]]:
    """Return the least a function could do per record: a dict lookup per category, a subtract-divide per number."""
    tables = []
    for categories in saved["One_Hot"].categories_:
        values = [str(v) for v in categories]
        tables.append({v: tuple(1.0 if i == j else 0.0 for j in range(len(values))) for i, v in enumerate(values)})
    columns = list(zip(saved["obj_cols"], tables, strict=True))
    numbers = list(zip(saved["num_cols"], saved["scaler"].mean_.tolist(), saved["scaler"].scale_.tolist(), strict=True))

    def run(records: Sequence[dict[str, Any]]) -> list[list[float]]:
        rows = []
        for record in records:
            row: list[float] = []
            for column, table in columns:
                row.extend(table[record[column]])
            row.extend((float(record[column]) - mean) / scale for column, mean, scale in numbers)
            rows.append(row)
        return rows

    return run


@contextlib.contextmanager
def function_container(saved: dict[str, Any], *, traced: bool = False) -> Iterator[tuple[ModuleType, Any]]:
    """Import the handler module with moto's S3 holding the transformation; yield it and the S3 client.

    traced: in Lambda's environment with X-Ray on, as deployed, every request sampled (its segments go to a UDP
    socket nobody reads, as the X-Ray daemon's would); else with tracing off, as sam local runs it.
    """
    environment = dict(FUNCTION_ENV)
    with xray_daemon() as daemon:
        if traced:
            del environment["POWERTOOLS_TRACE_DISABLED"]
            lambda_env = lambda_runtime_environment(Path(tempfile.gettempdir()), daemon_port(daemon))
            environment |= {k: v for k, v in lambda_env.items() if k != "PATH"}
        previous = {k: os.environ.get(k) for k in environment}
        os.environ.update(environment)
        try:
            with mock_aws():
                s3 = boto3.client("s3")
                s3.create_bucket(Bucket=BUCKET)
                s3.put_object(Bucket=BUCKET, Key=KEY, Body=pickle.dumps(saved))
                import churn_api.app as app  # noqa: PLC0415 - after the environment is set, as Lambda would

                app.predictor.scorer.client = InstantEndpoint()
                yield app, s3
        finally:
            for k, v in previous.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def per_record(payloads: Sequence[dict[str, Any]], saved: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return, per variant and batch size, the median microseconds per record."""
    results: dict[str, dict[str, float]] = {}
    plain = Transformation.from_mapping(saved)
    baseline = Transformation.from_mapping(saved)
    baseline.compiled = None
    lowest = floor(saved)
    with function_container(saved) as (app, s3), contextlib.redirect_stdout(io.StringIO()) as sink:
        reference = reference_function(s3, InstantEndpoint())
        context = LambdaContext(timeout_s=LONG_ENOUGH_MS / 1000)
        for n in BATCH_SIZES:
            records = [payloads[i % len(payloads)] for i in range(n)]
            customers = [Customer.model_validate(p) for p in records]
            events = handler_events(records)
            single = route_event("/predict/batch", {"customers": records}) if n > 1 else events[0]
            categorical = np.array([plain._categorical(c.__dict__) for c in customers], dtype=object)
            numeric = np.array([plain._numeric(c.__dict__) for c in customers], dtype=np.float64)
            encoder, scaler = plain.encoder, plain.scaler

            def scikit_learn(e: Any = encoder, s: Any = scaler, c: Any = categorical, x: Any = numeric) -> None:
                e.transform(c)
                s.transform(x)

            def handler(evs: list[dict[str, Any]] = events) -> None:
                for event in evs:
                    answer = app.lambda_handler(event, context)
                    assert answer["statusCode"] == 200, answer
                sink.seek(0)
                sink.truncate()

            def baseline_handler() -> None:
                store = app.predictor.transformations
                compiled, store.get(Deadline.after(60)).compiled = store.get(Deadline.after(60)).compiled, None
                try:
                    handler()
                finally:
                    store.get(Deadline.after(60)).compiled = compiled

            variants: dict[str, Callable[[], Any]] = {
                "reference function (download + unpickle + scikit-learn, per request)": partial(reference, single),
                "scikit-learn transform alone": scikit_learn,
                "baseline handler (scikit-learn transform + CSV)": baseline_handler,
                "our handler (compiled)": handler,
                "baseline transform + CSV (scikit-learn)": partial(baseline.to_csv, customers),
                "our transform + CSV (compiled)": partial(plain.to_csv, customers),
                "floor (plain lookup loop)": partial(lowest, records),
            }
            with warnings.catch_warnings():
                # The estimators were fitted on a DataFrame; the reference passes arrays, as it would on Lambda.
                warnings.simplefilter("ignore")
                for name, call in variants.items():
                    results.setdefault(name, {})[str(n)] = median_ms(call) * 1000 / n
    return results


def category_problems(transformation: Any, customers: Sequence[Any]) -> list[Any]:
    """Check every customer's categories against the transformation, as the predictor does."""
    return [transformation.category_problems(customer, index) for index, customer in enumerate(customers)]


def phases(payloads: Sequence[dict[str, Any]], saved: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Split the handler's time for 1 and 1,000 customers into its parts (ms), each timed on its own."""
    # Here, not at the top: benchmarks.warm_versus imports this module beside older revisions of churn_api.
    from pydantic import TypeAdapter  # noqa: PLC0415

    from churn_api.gateway import parse_json, write_json  # noqa: PLC0415
    from churn_api.models import BatchResponse, PlainestFirst, customers_from, verdict  # noqa: PLC0415

    one_customer: TypeAdapter[Customer] = TypeAdapter(Annotated[Customer, PlainestFirst])  # as Powertools validates

    def validate_one_by_one(items: Sequence[Any]) -> list[Customer]:
        return [one_customer.validate_python(item, from_attributes=True) for item in items]

    def batch_response(answer: dict[str, Any]) -> Any:
        results = [{"index": r["index"], **verdict(0.5, THRESHOLD)} for r in answer["results"]]
        return BatchResponse.model_validate({**answer, "results": results, "threshold": THRESHOLD})

    def dump_json(response: Any) -> Any:
        return write_json(response.model_dump(mode="json"))

    results: dict[str, dict[str, float]] = {}
    with function_container(saved) as (app, _), contextlib.redirect_stdout(io.StringIO()) as sink:
        transformation = app.predictor.transformations.get(Deadline.after(60))
        context = LambdaContext(timeout_s=LONG_ENOUGH_MS / 1000)
        for n in (1, 1_000):
            records = list(payloads[:n])
            (event,) = handler_events(records)
            body = event["body"]
            parsed = json.loads(body)
            items = [parsed] if n == 1 else parsed["customers"]
            customers = [Customer.model_validate(p) for p in items]
            answer = {"results": [{"index": i, **verdict(0.5, THRESHOLD)} for i in range(n)], "scored": n, "failed": 0}
            response = BatchResponse.model_validate({**answer, "threshold": THRESHOLD})

            def handler(e: dict[str, Any] = event) -> None:
                app.lambda_handler(e, context)
                sink.seek(0)
                sink.truncate()

            # /predict validates its one customer through PlainestFirst (Powertools); batches use customers_from.
            validate: Callable[[], Any] = (
                partial(validate_one_by_one, items) if n == 1 else partial(customers_from, items)
            )
            parts: dict[str, Callable[[], Any]] = {
                "JSON parsing (parse_json of the body)": partial(parse_json, body),
                "validation (PlainestFirst for one customer, customers_from for a batch)": validate,
                "category check (category_problems)": partial(category_problems, transformation, customers),
                "transform + CSV (compiled)": partial(transformation.to_csv, customers),
                "results (verdict per score + BatchResponse.model_validate)": partial(batch_response, answer),
                "response JSON (model_dump, as Powertools, + write_json)": partial(dump_json, response),
            }
            timed = {name: median_ms(call) for name, call in parts.items()}
            total = median_ms(handler)
            timed["routing, Powertools, metrics, threads, the rest (handler total - parts)"] = total - sum(
                timed.values()
            )
            timed["handler total"] = total
            before = "for comparison: Customer.model_validate per record (the model's own validators)"
            timed[before] = median_ms(partial(lambda xs: [Customer.model_validate(x) for x in xs], items))
            for name, ms in timed.items():
                results.setdefault(name, {})[str(n)] = ms
    return results

"""The local API Gateway: the template's REST API served over HTTP in-process, answering as API Gateway does.

gateway (API Gateway's checks, in order, on what churn_local.template.provider read from the template) -> events
(the proxy event and response) / responses (API Gateway's own answers) -> the Lambda stand-in
(churn_local.lambda_runtime); server (HTTP).
"""

from churn_local.apigw.events import HttpRequest, HttpResponse
from churn_local.apigw.gateway import LocalApi
from churn_local.apigw.server import make_server

__all__ = ["HttpRequest", "HttpResponse", "LocalApi", "make_server"]

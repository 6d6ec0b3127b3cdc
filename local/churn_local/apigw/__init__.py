"""The local API Gateway: serve the template's REST API in-process, like `sam local start-api` without Docker.

provider (what SAM decided, read from the expanded template) -> gateway (API Gateway's checks, in order) ->
events (the proxy event and response) / responses (API Gateway's own answers) -> invoke (the warm container,
timeouts) ; server (HTTP).
"""

from churn_local.apigw.events import HttpRequest, HttpResponse
from churn_local.apigw.gateway import LocalApi
from churn_local.apigw.provider import Application, TemplateError
from churn_local.apigw.server import make_server

__all__ = ["Application", "HttpRequest", "HttpResponse", "LocalApi", "TemplateError", "make_server"]

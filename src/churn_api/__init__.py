"""churn-api: score telecom customers for churn behind API Gateway and a SageMaker endpoint."""

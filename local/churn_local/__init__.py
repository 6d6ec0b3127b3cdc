"""Local-only tooling for churn-api: training, a local SageMaker endpoint, a local API. Never deployed."""

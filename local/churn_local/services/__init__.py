"""The AWS stand-ins: the SageMaker endpoint with its XGBoost container, S3, their faults and their HTTP server."""

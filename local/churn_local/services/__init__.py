"""Local stand-ins for the AWS services: SageMaker endpoint, XGBoost container, S3, faults."""

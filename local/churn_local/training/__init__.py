"""Train the model and publish its artifacts: data set, transformation, XGBoost, report, S3."""

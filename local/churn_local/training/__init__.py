"""Train the model: the data set, the transformation, XGBoost, the report, the reference model tests score against."""

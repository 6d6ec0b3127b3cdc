"""Ship a training: pin its artifacts, publish them to S3, keep the per-user deploy state, deploy what was pinned."""

"""Containers on this machine: the daemon, the Lambda image, sam build and sam local, their processes kept by pid."""

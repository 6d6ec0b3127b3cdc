"""Containers on this machine: the daemon, the Lambda image, sam build and sam local in front of the local stack."""

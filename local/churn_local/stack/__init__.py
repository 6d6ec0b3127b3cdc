"""The local stack: the stand-ins and the local API started together (`make serve`)."""

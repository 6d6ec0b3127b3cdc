"""Tools around the project: the OpenAPI document, image mappings, template expansion, the local container runtime."""

"""Tools over the template and the contract: offline SAM expansion, OpenAPI, image mapping; sam local in containers."""

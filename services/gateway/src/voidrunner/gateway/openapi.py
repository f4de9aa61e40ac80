"""`python -m voidrunner.gateway.openapi` prints the OpenAPI document (for `make docs`)."""

import json
import sys

from voidrunner.gateway.app import create_app
from voidrunner.gateway.settings import GatewaySettings

if __name__ == "__main__":
    json.dump(create_app(GatewaySettings()).openapi(), sys.stdout, indent=2)
    sys.stdout.write("\n")

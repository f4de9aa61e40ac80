"""Request and response bodies of the public REST API (the OpenAPI document is built from these)."""

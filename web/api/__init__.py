"""One blueprint per resource of the API, and the OpenAPI document."""

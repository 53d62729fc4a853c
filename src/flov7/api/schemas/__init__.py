"""Request and response models of the REST API (what OpenAPI documents), by resource."""

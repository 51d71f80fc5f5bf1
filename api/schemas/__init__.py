"""Request and response schemas of the HTTP API (separate from the storage models in ``sv6d.record``)."""

"""The API's OpenAPI description, served by the `openapi` function at GET /api/openapi.json.

`routes.py` lists every route once, `schemas.py` names the bodies (most from the pydantic models) and
`v3.py` renders both as OpenAPI 3.1 (GET /api/openapi.json, for any OpenAPI client) and `v2.py` as
OpenAPI 2.0 (GET /api/swagger.json), the format a Logic Apps custom connector imports.
"""

from snapshot.openapi import v2
from snapshot.openapi.v3 import document

__all__ = ["document", "v2"]

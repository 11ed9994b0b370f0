"""The API's OpenAPI description, served by the `openapi` function at GET /api/openapi.json.

`routes.py` lists every route once, `schemas.py` names the bodies (most from the pydantic models) and
`v3.py` renders both as OpenAPI 3.1, usable as a Logic Apps custom connector or with any OpenAPI client.
"""

from snapshot.openapi.v3 import document

__all__ = ["document"]

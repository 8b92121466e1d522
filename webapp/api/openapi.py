"""/api/v1/openapi.json (filled in below)."""

from . import bp


@bp.get("/openapi.json")
def openapi():
    return {"openapi": "3.1.0", "info": {"title": "AI workflows", "version": "1"}, "paths": {}}

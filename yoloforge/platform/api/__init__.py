"""The JSON API under /api/v1: `deps.py` (session, caller, scopes), `errors.py` (one error shape),
`routes/` (one router per resource)."""

"""Reference intake of the core 1022 case system: an Open311 GeoReport v2 server with a review queue.

Public API: `core1022.app.create_app(...)` (a FastAPI app, standalone or mounted) and
`core1022.cli.run(host, port, api_key, database_url)`. It shares no code or tables with the rest of
1022 Watch; the bridge talks to it over HTTP only, as it would to the city's own system.
"""

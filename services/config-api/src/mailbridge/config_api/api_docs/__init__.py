"""The API's documentation pages, served from the package (no CDN, so they work offline): Swagger
UI at /docs, ReDoc at /redoc, the event API's AsyncAPI document at /asyncapi.json and its viewer
at /asyncapi. The browser assets are vendored under `assets/` (versions and licences:
assets/NOTICE.md)."""

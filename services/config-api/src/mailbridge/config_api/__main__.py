"""`python -m mailbridge.config_api`: serve the configuration API with uvicorn."""

import uvicorn
from mailbridge.common.logging import configure_logging
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings


def serve() -> None:
    settings = ConfigApiSettings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    serve()

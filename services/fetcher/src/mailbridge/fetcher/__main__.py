"""`python -m mailbridge.fetcher`: run a fetcher replica."""

import asyncio

from mailbridge.common.logging import configure_logging
from mailbridge.fetcher.main import create_app
from mailbridge.fetcher.settings import FetcherSettings


def main() -> None:
    settings = FetcherSettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()

"""`python -m mailbridge.oauth_broker`: run an OAuth broker replica."""

import asyncio

from mailbridge.common.logging import configure_logging
from mailbridge.oauth_broker.main import create_app
from mailbridge.oauth_broker.settings import OAuthBrokerSettings


def main() -> None:
    settings = OAuthBrokerSettings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()

"""`python -m mailbridge.sender [--pool egress]`: run a sender replica."""

import argparse
import asyncio

from mailbridge.common.logging import configure_logging
from mailbridge.sender.main import create_app
from mailbridge.sender.settings import SenderSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mailbridge.sender", description=__doc__)
    parser.add_argument(
        "--pool", choices=("default", "egress"), help="S6: egress takes only send-via-server mail"
    )
    args = parser.parse_args()
    settings = SenderSettings()
    if args.pool:
        settings = settings.model_copy(update={"send_pool": args.pool})
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()

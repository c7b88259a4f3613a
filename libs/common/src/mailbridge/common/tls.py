"""TLS for connections to mail servers: the system's trust plus, when configured, one more CA.

Verification is never switched off (S9); a private mail server is trusted by naming its CA.
"""

import ssl
from pathlib import Path


def client_context(extra_ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=str(extra_ca_file))
    return context

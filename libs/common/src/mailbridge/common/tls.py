"""TLS for outgoing connections (mail servers and the OAuth identity provider): the system's
trust plus, when configured, MAILBRIDGE_EXTRA_CA_FILE.

Verification is never switched off (S9); a private server is trusted by naming its CA. The
extra file is a PEM bundle and may hold several CAs (a company's private PKI, the tests' CA):
every certificate in it is trusted. It is added to the system's trust, never in place of it;
an SSL_CERT_FILE in the environment changes what "the system's trust" is, not the extra CA.
"""

import ssl
from pathlib import Path


def client_context(extra_ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=str(extra_ca_file))
    return context

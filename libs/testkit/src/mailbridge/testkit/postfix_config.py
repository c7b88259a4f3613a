"""Postfix 3.7's private main.cf and master.cf for the test stack (nothing from /etc/postfix).

Three listeners: plain SMTP without AUTH that relays for 127.0.0.0/8 and ::1 (STARTTLS offered,
as on port 25), submission (STARTTLS and AUTH required) and smtps (implicit TLS, AUTH
required); AUTH through Dovecot's SASL socket. No domain is local or virtual to Postfix: every
recipient goes by LMTP to Dovecot, which puts mail for unknown addresses (any other domain, or
an unknown user) into the sink mailbox, so nothing leaves the host and nothing bounces. DNS is
off; there is no throttling and no sleeping after errors; retries come quickly.
"""

from dataclasses import dataclass
from pathlib import Path

from mailbridge.testkit.tls import TlsFiles

QUEUE_FOLDERS = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
                 "private", "public", "saved", "trace", "maildrop")  # fmt: skip


@dataclass(frozen=True)
class PostfixPorts:
    smtp: int
    submission: int
    smtps: int


@dataclass(frozen=True)
class PostfixPaths:
    folder: Path
    config: Path  # config_directory: main.cf and master.cf
    queue: Path
    data: Path
    log: Path  # maillog_file, written by postlogd
    output: Path  # the master's stdout and stderr

    @classmethod
    def under(cls, folder: Path) -> "PostfixPaths":
        return cls(folder, folder / "etc", folder / "queue", folder / "data", folder / "maillog",
                   folder / "master.out")  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    """Where Postfix hands mail over: Dovecot's LMTP and SASL auth sockets."""

    lmtp_socket: Path
    auth_socket: Path


def main_cf(paths: PostfixPaths, tls: TlsFiles, delivery: Delivery, host: str) -> str:
    lmtp = f"lmtp:unix:{delivery.lmtp_socket}"
    return f"""\
compatibility_level = 3.6
queue_directory = {paths.queue}
data_directory = {paths.data}
maillog_file = {paths.log}
maillog_file_prefixes = {paths.folder}
mail_owner = postfix
myhostname = mx.mailbridge.test
mydomain = mailbridge.test
myorigin = $myhostname
mydestination =
inet_interfaces = {host}
inet_protocols = {"ipv6" if ":" in host else "ipv4"}
mynetworks = 127.0.0.0/8 [::1]/128
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery in the test stack
default_transport = {lmtp}
relay_transport = {lmtp}
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
append_dot_mydomain = no
notify_classes =
message_size_limit = 52428800
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtpd_banner = $myhostname ESMTP Mailbridge test stack
smtpd_tls_cert_file = {tls.server_cert}
smtpd_tls_key_file = {tls.server_key}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
tls_random_source = dev:/dev/urandom
smtpd_sasl_type = dovecot
smtpd_sasl_path = {delivery.auth_socket}
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
lmtp_tls_security_level = none
"""


_AUTH_REQUIRED = (
    "  -o smtpd_sasl_auth_enable=yes\n"
    "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
    "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
)


def master_cf(ports: PostfixPorts, host: str) -> str:
    address = f"[{host}]" if ":" in host else host
    return f"""\
{address}:{ports.smtp} inet n - n - - smtpd
{address}:{ports.submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
{_AUTH_REQUIRED}{address}:{ports.smtps} inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
{_AUTH_REQUIRED}cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
lmtp unix - - n - - lmtp
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

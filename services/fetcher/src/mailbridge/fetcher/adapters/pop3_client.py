"""poplib, bounded: the blocking half of a POP3 session, run in a worker thread.

poplib reads every multi-line answer into a list of lines without limit (a RETR that never
ends grows the process for ever) and applies its timeout to each socket operation only (a
server sending a byte every few seconds never times out). So multi-line answers are read here
into a `MultiLine` with a byte and line limit, every byte read is counted on the `Line`, and the
`Line` can be cut from another thread: the event loop's watchdog shuts the socket down when a
step runs past its deadline, and the blocked read in this thread returns at once.
"""

import contextlib
import poplib
import socket
import ssl
import threading

from mailbridge.fetcher.pop3_wire import (
    MAX_CAPABILITIES,
    MAX_LISTED,
    MAX_LISTING_BYTES,
    NONE,
    Capabilities,
    MultiLine,
    parse_capabilities,
)

READ_PIECE = 256 * 1024  # the most one read of a message line takes at once
MAX_LINE = 2048  # a one-line answer, as poplib allows (RFC 1939 says 512)


class Cut(Exception):
    """The watchdog cut the connection: the step ran past its deadline."""


class Line:
    """The connection as the event loop sees it: bytes received so far, and a way to cut it."""

    def __init__(self) -> None:
        self.received = 0
        self.cut_off = False
        self._handle: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket) -> None:
        """Keep a duplicate of the socket: shutting that down ends reads on every copy."""
        with self._lock:
            if self.cut_off:
                sock.close()
                raise Cut("the connection was cut before it was made")
            self._handle = sock.dup()

    def cut(self) -> None:
        with self._lock:
            self.cut_off = True
            if self._handle is not None:
                with contextlib.suppress(OSError):  # already closed by the other side
                    self._handle.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self.cut_off = True
            if self._handle is not None:
                self._handle.close()
                self._handle = None


class Client(poplib.POP3):
    """A POP3 connection (implicit TLS when `tls` is given) whose reads are counted on `line`.
    poplib's own commands (USER, PASS, DELE, RSET, QUIT) read their one-line answers through
    `_getline` here, which keeps poplib's line limit and its errors."""

    def __init__(
        self, host: str, port: int, timeout_s: float, line: Line, tls: ssl.SSLContext | None = None
    ) -> None:
        self._line, self._implicit_tls, self._stls = line, tls, False
        self.token_sent = False  # AUTH XOAUTH2 got as far as the SASL string
        self.token_challenge: bytes | None = None  # the server's error challenge after it
        super().__init__(host, port, timeout_s)  # connects and reads the greeting

    @property
    def encrypted(self) -> bool:
        return self._implicit_tls is not None or self._stls

    def _create_socket(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        self._line.attach(sock)
        if self._implicit_tls is None:
            return sock
        return self._implicit_tls.wrap_socket(sock, server_hostname=self.host)

    def _getline(self) -> tuple[bytes, int]:
        line = self.file.readline(MAX_LINE + 1)
        self._line.received += len(line)
        if len(line) > MAX_LINE:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto(b"-ERR EOF")
        return line.rstrip(b"\r\n"), len(line)

    def command(self, command: str) -> bytes:
        """One command and its one-line answer; error_proto unless it starts with "+"."""
        self.sock.sendall(command.encode(self.encoding) + b"\r\n")
        answer, _ = self._getline()
        if not answer.startswith(b"+"):
            raise poplib.error_proto(answer)
        return answer

    def capabilities(self) -> Capabilities:
        """CAPA (RFC 2449); a server without it (`-ERR`) offers nothing beyond RFC 1939."""
        try:
            answer = self.multi_line("CAPA", MultiLine(MAX_LISTING_BYTES, MAX_CAPABILITIES))
        except poplib.error_proto as error:
            if _refusal(error):
                return NONE
            raise
        return parse_capabilities(answer.lines())

    def xoauth2(self, sasl: bytes) -> None:
        """AUTH XOAUTH2 in two steps (RFC 5034 §4: the command, the server's `+`, the SASL string);
        an error challenge is answered with an empty line. error_proto with the -ERR when refused."""
        self.sock.sendall(b"AUTH XOAUTH2\r\n")
        answer, _ = self._getline()
        if not answer.startswith(b"+") or answer.startswith(b"+OK"):
            raise poplib.error_proto(answer)
        self.sock.sendall(sasl + b"\r\n")
        self.token_sent = True
        answer, _ = self._getline()
        if answer.startswith(b"+") and not answer.startswith(b"+OK"):
            self.token_challenge = answer[1:].strip()
            self.sock.sendall(b"\r\n")
            answer, _ = self._getline()
        if not answer.startswith(b"+OK"):
            raise poplib.error_proto(answer)

    def start_tls(self, context: ssl.SSLContext) -> None:
        """STLS (RFC 2595), the capabilities checked by the caller."""
        self.command("STLS")
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("rb")
        self._stls = True

    def optional(self, command: str) -> bool:
        """A one-line command the server may refuse: True for +OK, False for -ERR."""
        try:
            self.command(command)
        except poplib.error_proto as error:
            if _refusal(error):
                return False
            raise
        return True

    def listed(self, command: str) -> list[bytes]:
        return self.multi_line(command, MultiLine(MAX_LISTING_BYTES, MAX_LISTED)).lines()

    def optional_multi_line(self, command: str, into: MultiLine) -> MultiLine | None:
        """`multi_line`, or None when the server refuses the command (-ERR)."""
        try:
            return self.multi_line(command, into)
        except poplib.error_proto as error:
            if _refusal(error) and not into.body:
                return None
            raise

    def multi_line(self, command: str, into: MultiLine) -> MultiLine:
        """`command`'s answer collected into `into`, which bounds it (TooLarge past its limits)."""
        self.command(command)
        while not into.done:
            piece = self.file.readline(READ_PIECE)
            if not piece:
                raise poplib.error_proto(b"-ERR EOF")
            self._line.received += len(piece)
            into.feed(piece)
        return into


def _refusal(error: poplib.error_proto) -> bool:
    reply = error.args[0] if error.args else b""
    return isinstance(reply, bytes) and reply.startswith(b"-ERR")

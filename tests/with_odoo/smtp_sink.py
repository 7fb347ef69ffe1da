"""A real SMTP server on 127.0.0.1 for the tests: Odoo's mail queue connects and sends to it over TCP.

It speaks the few commands Odoo's smtplib sends (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every message
it accepted, and refuses the recipients it is told to refuse, as a receiving server does (550).
"""

import socketserver
import threading
from email import message_from_bytes, policy


class _Handler(socketserver.StreamRequestHandler):
    def _reply(self, text):
        self.wfile.write(f"{text}\r\n".encode())

    def handle(self):
        sink = self.server.sink
        self._reply("220 sink ESMTP")
        sender, recipients = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif verb == "MAIL":
                sender, recipients = command[10:].strip(), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipient = command[8:].split(">")[0].strip("<> ")
                if recipient in sink.refused:
                    self._reply("550 5.1.1 No such user")
                else:
                    recipients.append(recipient)
                    self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                sink.messages.append((sender, recipients, message_from_bytes(b"".join(data), policy=policy.SMTP)))
                self._reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpSink:
    """Start with ``start()``; ``port``; ``messages``: (sender, recipients, email.message) accepted; ``refused``."""

    def __init__(self):
        self.messages = []
        self.refused = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self.port = self._server.server_address[1]

    def start(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

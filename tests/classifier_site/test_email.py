"""E-mail as docs/deploying.md sets it up: SMTP settings from the environment, tried with `manage.py sendtestemail`
against a real SMTP conversation on 127.0.0.1."""

import os
import socket
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parents[2]


class SMTPConversation(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server to take one message; every line the client sends is kept on the server."""

    def handle(self):
        self.wfile.write(b"220 smtp.example.org ESMTP\r\n")
        in_message = False
        while line := self.rfile.readline():
            self.server.received.append(line)
            if in_message:
                if line == b".\r\n":
                    in_message = False
                    self.wfile.write(b"250 queued\r\n")
                continue
            command = line[:4].upper()
            if command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            in_message = command == b"DATA"
            self.wfile.write(b"354 end with a dot\r\n" if in_message else b"250 ok\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPConversation)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def send_test_email(port: int, **settings) -> subprocess.CompletedProcess:
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "classifier_site.settings.base",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "operator@example.org"],
        cwd=ROOT,
        env=environment | settings,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sendtestemail_reaches_the_smtp_server_from_the_configured_sender(smtp_server):
    result = send_test_email(smtp_server.server_address[1], DEFAULT_FROM_EMAIL="classifier@example.org")
    assert result.returncode == 0, result.stderr
    commands = [line.decode().strip().lower() for line in smtp_server.received]
    assert "mail from:<classifier@example.org>" in commands
    assert "rcpt to:<operator@example.org>" in commands
    assert b"From: classifier@example.org\r\n" in smtp_server.received


def test_email_use_ssl_speaks_tls_from_the_first_byte(smtp_server):
    result = send_test_email(smtp_server.server_address[1], EMAIL_USE_SSL="1")
    assert result.returncode != 0  # this server speaks plain SMTP
    assert smtp_server.received[0].startswith(b"\x16\x03"), smtp_server.received[:1]  # a TLS handshake record


def test_an_smtp_server_that_never_answers_fails_the_send_after_email_timeout():
    """A password reset waits on the SMTP server in a gunicorn thread: it must give up on its own."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections are accepted, nothing is ever said
        result = send_test_email(silent.getsockname()[1], EMAIL_TIMEOUT="1")
    assert result.returncode != 0
    assert "timed out" in result.stderr


def test_the_checks_refuse_starttls_and_ssl_together(settings):
    settings.EMAIL_USE_TLS = True
    settings.EMAIL_USE_SSL = True
    with pytest.raises(SystemCheckError, match="classifier.E002"):
        call_command("check")

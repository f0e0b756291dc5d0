"""Email over SMTP (``smtplib``): one connection for a batch of messages, STARTTLS and AUTH when
the settings ask for them, each message's answer turned into an :class:`~loyalty.messages.delivery.Outcome`.

A refused recipient or message (a 5xx reply at RCPT or DATA) is permanent; a 4xx reply, a lost
or refused connection, a timeout is transient. After a transient error the connection is
dropped and the next message opens a new one.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from types import TracebackType

from gateway.settings import WorkerSettings
from loyalty.messages.delivery import Outcome, smtp_outcome
from loyalty.messages.mime import Email


class SmtpChannel:
    """A batch's SMTP session: ``with SmtpChannel(settings) as smtp: smtp.send(mail)``."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.connection: smtplib.SMTP | None = None
        self.connections = 0  # how many were opened (the bench and the tests read it)

    def __enter__(self) -> SmtpChannel:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        connection = smtplib.SMTP(str(s.smtp_host), s.smtp_port, timeout=s.smtp_timeout_s)
        try:
            connection.ehlo()
            if s.smtp_starttls:
                connection.starttls(context=ssl.create_default_context(cafile=s.smtp_ca_file))
                connection.ehlo()
            if s.smtp_username:
                connection.login(s.smtp_username, s.smtp_password or "")
        except BaseException:
            with contextlib.suppress(Exception):
                connection.close()
            raise
        self.connections += 1
        return connection

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.quit()
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None

    def send(self, mail: Email) -> Outcome:
        """Sends ``mail`` to its envelope recipient; the Message-ID is the provider reference."""
        if self.settings.smtp_host is None:
            return Outcome("permanent", "COALITION_SMTP_HOST is not set: email is off")
        try:
            if self.connection is None:
                self.connection = self._connect()
            self.connection.sendmail(mail.sender, [mail.to], mail.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return smtp_outcome(code, _text(reply), stage="rcpt")
        except smtplib.SMTPSenderRefused as exc:
            self._reset()
            return smtp_outcome(exc.smtp_code, _text(exc.smtp_error), stage="mail")
        except smtplib.SMTPDataError as exc:
            self._reset()
            return smtp_outcome(exc.smtp_code, _text(exc.smtp_error), stage="data")
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            return Outcome("retry", f"auth {exc.smtp_code} {_text(exc.smtp_error)}"[:255])
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timed out, TLS
            self.close()
            return Outcome("retry", f"connection {type(exc).__name__}: {exc}"[:255])
        return Outcome("sent", "250 accepted", provider_ref=mail.message_id)

    def _reset(self) -> None:
        try:
            if self.connection is not None:
                self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)

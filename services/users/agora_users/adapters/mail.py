"""Sending mail over SMTP (the standard library's smtplib, in a worker thread): one connection per batch.

`Mailer` is the port the mail consumer uses; `SmtpMailer` the one implementation. A recipient the server refuses
(a 5xx for that message) is reported and skipped; anything else (connection lost, a 4xx, bad credentials) raises
`MailInterrupted` carrying what was sent before it, so the caller records those and the batch is retried later.
"""

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal, Protocol

Outcome = Literal["sent", "refused"]


class Mailer(Protocol):
    async def send(self, messages: list[EmailMessage]) -> list[Outcome]:
        """One outcome per message, in order."""
        ...


class MailInterrupted(Exception):
    def __init__(self, outcomes: list[Outcome], cause: BaseException) -> None:
        super().__init__(f"SMTP delivery interrupted after {len(outcomes)} messages: {cause!r}")
        self.outcomes = outcomes


@dataclass
class SmtpMailer:
    host: str
    port: int
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    async def send(self, messages: list[EmailMessage]) -> list[Outcome]:
        if not messages:
            return []
        return await asyncio.to_thread(self._send_all, messages)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def _send_all(self, messages: list[EmailMessage]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                for message in messages:
                    try:
                        smtp.send_message(message)
                        outcomes.append("sent")
                    except smtplib.SMTPRecipientsRefused:
                        outcomes.append("refused")
                    except smtplib.SMTPResponseException as exc:
                        if not 500 <= exc.smtp_code < 600 or isinstance(exc, smtplib.SMTPSenderRefused):
                            raise  # transient (4xx) or our own configuration: retry the batch later
                        outcomes.append("refused")
                        smtp.rset()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailInterrupted(outcomes, exc) from exc
        return outcomes


def mailer_from_settings(settings) -> SmtpMailer:
    password = settings.mail_smtp_password.get_secret_value() if settings.mail_smtp_password else None
    return SmtpMailer(host=settings.mail_smtp_host, port=settings.mail_smtp_port,
                      security=settings.mail_smtp_security, username=settings.mail_smtp_username,
                      password=password, timeout=settings.mail_smtp_timeout_seconds)

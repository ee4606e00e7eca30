"""Messages to an account's owner that must not go to whoever made the request (the port for a mail adapter).

Registration answers the same whether or not the email already has an account (no account enumeration); the
owner of an existing account is told instead, out of band. There is no mail service yet: `LogNotices` writes a
log line a mail or announcement adapter can replace, with the same method.
"""

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class AccountNotices(Protocol):
    async def registration_attempted(self, *, user_id: str, client: str) -> None:
        """Someone asked to register with the email of account `user_id` (e.g. its owner forgot it exists, or
        someone probes): tell the owner ("you already have an account: sign in, or change your password").
        Called while the registration request waits: queue the message, do not send it inline."""
        ...


class LogNotices:
    async def registration_attempted(self, *, user_id: str, client: str) -> None:
        # no email in the log: the account id is enough for whoever sends the message
        log.info("registration attempted with an existing account's email; notify its owner",
                 extra={"user_id": user_id, "client": client, "notice": "registration_attempted"})

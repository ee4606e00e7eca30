"""The outbox relay, with a lease so that one instance at a time publishes.

With several instances, plain relays would each publish the same pending entries (duplicates, and one event
stream interleaved out of version order). The lease is a document in the service's database; its holder renews it
at every poll, and when the holder dies another instance takes over once it expires. Writes on other instances
are published at the holder's next poll.
"""

import logging
from datetime import UTC, datetime, timedelta

from agora_common.ids import new_id
from agora_common.kafka import EventPublisher
from agora_common.outbox import OutboxRelay
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

log = logging.getLogger(__name__)

LEASES = "leases"
LEASE_ID = "outbox-relay"


class LeasedOutboxRelay(OutboxRelay):
    def __init__(self, db: AsyncDatabase, publisher: EventPublisher, *, lease_seconds: float = 10.0, **kw) -> None:
        super().__init__(db, publisher, **kw)
        self._leases = db[LEASES]
        self._lease_seconds = lease_seconds
        self.owner = new_id()

    async def holds_lease(self) -> bool:
        now = datetime.now(UTC)
        try:
            lease = await self._leases.find_one_and_update(
                {"_id": LEASE_ID, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + timedelta(seconds=self._lease_seconds)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # somebody else holds a lease that has not expired
        return lease is not None and lease["owner"] == self.owner

    async def relay_once(self) -> int:
        if not await self.holds_lease():
            return 0
        return await super().relay_once()

    async def stop(self) -> None:
        await super().stop()
        try:  # hand over at once instead of making the others wait for the lease to expire
            await self._leases.update_one({"_id": LEASE_ID, "owner": self.owner},
                                          {"$set": {"expires_at": datetime.now(UTC)}})
        except PyMongoError:
            log.warning("could not release the outbox relay lease; it will expire")

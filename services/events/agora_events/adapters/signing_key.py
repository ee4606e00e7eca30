"""The Ed25519 key that signs certificates.

Production: AGORA_CERT_SIGNING_KEY (PEM, PKCS#8), required. Development and tests: a key generated once and
stored in the service's database, so restarts and several instances keep signing with the same key.
"""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key
from pymongo.asynchronous.database import AsyncDatabase

from agora_events.adapters.mongo import SERVICE_KEYS
from agora_events.config import Settings

KEY_ID = "certificate-signing-key"


def from_pem(pem: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("AGORA_CERT_SIGNING_KEY must be an Ed25519 private key (PEM, PKCS#8)")
    return key


def to_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


async def load_signing_key(settings: Settings, db: AsyncDatabase) -> Ed25519PrivateKey:
    if settings.cert_signing_key is not None:
        return from_pem(settings.cert_signing_key.get_secret_value())
    if settings.environment == "production":
        raise RuntimeError("AGORA_CERT_SIGNING_KEY is required in production")
    # first instance to get here wins; the others read its key
    await db[SERVICE_KEYS].update_one(
        {"_id": KEY_ID}, {"$setOnInsert": {"pem": to_pem(Ed25519PrivateKey.generate())}}, upsert=True
    )
    stored = await db[SERVICE_KEYS].find_one({"_id": KEY_ID})
    if stored is None:  # cannot happen after the upsert; a clear error rather than a TypeError
        raise RuntimeError("the service signing key was not stored")
    return from_pem(stored["pem"])

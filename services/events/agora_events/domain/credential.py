"""Certificates as Open Badges 3.0 credentials secured with a Data Integrity proof (cryptosuite eddsa-jcs-2022).

Signing, as the W3C suite describes it: hash = SHA-256(JCS(proof options)) || SHA-256(JCS(credential without
proof)); the Ed25519 signature of that hash, multibase base58btc encoded, is `proof.proofValue`. The issuer is a
`did:key` made from the public key, so anyone can check a certificate offline too; our verification endpoint
also checks that the issuer is this service and that the certificate was really issued and not revoked.
"""

import copy
import hashlib
from datetime import datetime
from typing import Any

import base58
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CONTEXTS = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
_ED25519_MULTICODEC = b"\xed\x01"


def did_key(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "did:key:z" + base58.b58encode(_ED25519_MULTICODEC + raw).decode()


def verification_method(public_key: Ed25519PublicKey) -> str:
    did = did_key(public_key)
    return f"{did}#{did.removeprefix('did:key:')}"


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def build(
    *,
    certificate_id: str,
    issuer_did: str,
    issuer_name: str,
    issued_at: datetime,
    user_id: str,
    user_name: str | None,
    achievement_id: str,
    achievement_name: str,
    achievement_description: str,
    criteria: str,
    score: float,
    pass_mark: float,
) -> dict:
    subject: dict[str, Any] = {"id": f"urn:agora:user:{user_id}", "type": ["AchievementSubject"]}
    if user_name:
        subject["name"] = user_name
    subject["achievement"] = {
        "id": achievement_id,
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": achievement_name,
        "description": achievement_description,
        "criteria": {"narrative": criteria},
    }
    # strings, not floats: canonical JSON of floats is a classic source of verification mismatches
    subject["result"] = [{"type": ["Result"], "value": f"{score:g}", "resultDescription": f"pass mark {pass_mark:g}"}]
    return {
        "@context": CONTEXTS,
        "id": f"urn:uuid:{certificate_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer_did, "type": ["Profile"], "name": issuer_name},
        "validFrom": iso(issued_at),
        "name": achievement_name,
        "credentialSubject": subject,
    }


def _hash_data(proof_options: dict, document: dict) -> bytes:
    return hashlib.sha256(rfc8785.dumps(proof_options)).digest() + hashlib.sha256(rfc8785.dumps(document)).digest()


def sign(credential: dict, key: Ed25519PrivateKey, *, created: datetime) -> dict:
    options = {
        "@context": credential["@context"],
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": iso(created),
        "verificationMethod": verification_method(key.public_key()),
        "proofPurpose": "assertionMethod",
    }
    signature = key.sign(_hash_data(options, credential))
    proof = {k: v for k, v in options.items() if k != "@context"}
    proof["proofValue"] = "z" + base58.b58encode(signature).decode()
    return {**copy.deepcopy(credential), "proof": proof}


class VerificationFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify(signed: dict, public_key: Ed25519PublicKey) -> None:
    """Raise VerificationFailed unless `signed` carries a valid proof made with `public_key` by this issuer."""
    if not isinstance(signed, dict) or not isinstance(signed.get("proof"), dict):
        raise VerificationFailed("no_proof", "the credential has no proof")
    proof = signed["proof"]
    document = {k: v for k, v in signed.items() if k != "proof"}
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != "eddsa-jcs-2022":
        raise VerificationFailed("unsupported_proof", "only DataIntegrityProof / eddsa-jcs-2022 proofs are accepted")
    expected_method = verification_method(public_key)
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if proof.get("verificationMethod") != expected_method or issuer_id != did_key(public_key):
        raise VerificationFailed("unknown_issuer", "the credential was not issued by this service")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise VerificationFailed("bad_signature", "proofValue is not a base58btc multibase value")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError as exc:
        raise VerificationFailed("bad_signature", "proofValue is not valid base58") from exc
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    options["@context"] = document.get("@context")
    try:
        public_key.verify(signature, _hash_data(options, document))
    except (InvalidSignature, TypeError, ValueError) as exc:
        raise VerificationFailed("bad_signature", "the signature does not match: the credential was altered or forged") from exc

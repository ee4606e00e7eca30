import copy
from datetime import UTC, datetime

import pytest
from agora_events.domain import credential
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def signed(key=KEY):
    doc = credential.build(
        certificate_id="c1", issuer_did=credential.did_key(key.public_key()), issuer_name="Agora", issued_at=NOW,
        user_id="u1", user_name="Ada", achievement_id="https://x/e1", achievement_name="CKA",
        achievement_description="d", criteria="pass", score=87.5, pass_mark=70,
    )
    return credential.sign(doc, key, created=NOW)


def test_genuine_verifies_regardless_of_key_order():
    cert = signed()
    credential.verify(cert, KEY.public_key())
    reordered = dict(reversed(list(cert.items())))
    credential.verify(reordered, KEY.public_key())  # JCS: member order does not matter
    assert cert["credentialSubject"]["result"][0]["value"] == "87.5"


@pytest.mark.parametrize("path, value", [
    (("credentialSubject", "id"), "urn:agora:user:eve"),
    (("validFrom",), "2020-01-01T00:00:00Z"),
    (("proof", "created"), "2031-01-01T00:00:00Z"),
    (("proof", "proofValue"), "z" + "1" * 80),
])
def test_any_change_breaks_the_signature(path, value):
    cert = copy.deepcopy(signed())
    target = cert
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    with pytest.raises(credential.VerificationFailed) as err:
        credential.verify(cert, KEY.public_key())
    assert err.value.reason == "bad_signature"


def test_another_key_is_an_unknown_issuer():
    with pytest.raises(credential.VerificationFailed) as err:
        credential.verify(signed(Ed25519PrivateKey.generate()), KEY.public_key())
    assert err.value.reason == "unknown_issuer"


def test_did_key_format():
    assert credential.did_key(KEY.public_key()).startswith("did:key:z6Mk")


@pytest.mark.parametrize("junk", [float("nan"), 2**60, b"bytes"])
def test_values_json_cannot_canonicalise_are_rejected_not_crashed(junk):
    cert = copy.deepcopy(signed())
    cert["credentialSubject"]["extra"] = junk
    with pytest.raises(credential.VerificationFailed):
        credential.verify(cert, KEY.public_key())

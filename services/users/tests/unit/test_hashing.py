from agora_users.adapters.hashing import PasswordHasher


async def test_hash_verify_and_rehash_on_cost_change():
    cheap = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    stored = await cheap.hash("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert await cheap.verify(stored, "correct horse battery")
    assert not await cheap.verify(stored, "wrong horse battery")
    assert not await cheap.verify(None, "correct horse battery")  # unknown account: dummy hash, still False
    assert not await cheap.verify("garbage", "x")
    assert not cheap.needs_rehash(stored)
    assert PasswordHasher(time_cost=2, memory_cost_kib=16, parallelism=1).needs_rehash(stored)

"""A writer that dies inside a transaction must not lock its documents for long (issue 15).

The server aborts a transaction that has idled past its lifetime (5 s here, as in production), so the next
write to the same document succeeds within seconds; with MongoDB's default of 60 s it would wait a minute,
longer than the gateway waits for an answer.
"""

import signal
import subprocess
import sys
import textwrap
import time
import uuid

from pymongo import MongoClient

WRITER = textwrap.dedent("""
    import sys, time
    from pymongo import MongoClient
    client = MongoClient(sys.argv[1])
    posts = client[sys.argv[2]].posts
    session = client.start_session()
    session.start_transaction()
    posts.update_one({"_id": "p1"}, {"$inc": {"score": 1}}, session=session)
    print("holding the lock", flush=True)
    time.sleep(600)
""")


def test_a_killed_writers_locks_clear_within_seconds(mongo_url):
    db_name = f"deadwriter_{uuid.uuid4().hex[:8]}"
    client = MongoClient(mongo_url)
    posts = client[db_name].posts
    posts.insert_one({"_id": "p1", "score": 0})
    writer = subprocess.Popen([sys.executable, "-c", WRITER, mongo_url, db_name], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "holding the lock"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    killed = time.monotonic()

    def vote(session):
        posts.update_one({"_id": "p1"}, {"$inc": {"score": 10}}, session=session)

    with client.start_session() as session:
        session.with_transaction(vote)
    waited = time.monotonic() - killed
    try:
        assert posts.find_one({"_id": "p1"})["score"] == 10  # the dead writer's +1 was rolled back
        assert waited < 10, f"the dead writer's lock held the next write for {waited:.1f} s"
    finally:
        client.drop_database(db_name)
        client.close()

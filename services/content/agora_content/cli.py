"""Operator jobs of the content service, run in one of its pods (same settings as the service):

    agora-content recount-experts     # the expert lists from every answer: once after upgrading to a version
                                      # that has them (answers posted before count only once recounted), or to
                                      # check them; idempotent, safe while the service runs
"""

import argparse
import asyncio

from agora_common.mongo import make_client
from agora_common.topics import Topics
from agora_common.uow import Transactions
from tqdm import tqdm

from agora_content.adapters.store import Store
from agora_content.config import Settings
from agora_content.service import expertise


async def recount_experts(settings: Settings, *, quiet: bool = False) -> int:
    client = make_client(settings)
    try:
        db = client[settings.mongo_db]
        store = Store(db=db, transactions=Transactions(client, db, topic=Topics(settings.topic_prefix).content))
        total = await store.posts.count_documents({"type": "answer"})
        with tqdm(total=total, desc="answers recounted", unit="answer", disable=quiet) as bar:
            return await expertise.recount_answers(store, {"type": "answer"}, on_batch=bar.update)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agora-content", description=__doc__.splitlines()[0])
    jobs = parser.add_subparsers(dest="job", required=True)
    jobs.add_parser("recount-experts", help="recount the expert lists from every answer")
    args = parser.parse_args(argv)
    if args.job == "recount-experts":
        counted = asyncio.run(recount_experts(Settings()))
        print(f"{counted} answers recounted")


if __name__ == "__main__":
    main()

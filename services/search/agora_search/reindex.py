"""Rebuild the search index from the content event log and swap it in without downtime.

    python -m agora_search.reindex            # reads AGORA_* settings like the service

Searches keep being served from the old index until the atomic alias swap; a running search service keeps
indexing new events into both indices meanwhile.
"""

import argparse
import asyncio
import json
import sys

from tqdm import tqdm

from agora_search.config import Settings
from agora_search.main import make_client
from agora_search.service.reindex import rebuild


async def run(settings: Settings, *, force: bool = False) -> int:
    es = make_client(settings)
    bar = tqdm(total=0, unit="event", desc="reindex", file=sys.stderr)

    def progress(read: int, total: int) -> None:
        bar.total = total
        bar.n = read
        bar.refresh()

    try:
        status = await rebuild(es=es, settings=settings, progress=progress, force=force)
    finally:
        bar.close()
        await es.close()
    print(json.dumps(status.as_dict(), default=str, indent=2))
    return 0 if status.state == "succeeded" else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true",
                        help="first drop an index that a crashed reindex left in the write alias")
    parser.add_argument("--grace-seconds", type=float, default=None,
                        help="how long the old index lives after the swap (default: AGORA_REINDEX_GRACE_SECONDS)")
    args = parser.parse_args()
    settings = Settings()
    if args.grace_seconds is not None:
        settings = settings.model_copy(update={"reindex_grace_seconds": args.grace_seconds})
    sys.exit(asyncio.run(run(settings, force=args.force)))


if __name__ == "__main__":
    main()

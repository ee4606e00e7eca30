"""SecantusDB as the project runs it: `secantusd-py` with a transaction lifetime its CLI does not expose.

A transaction whose writer died (a SIGKILLed service) keeps the documents it wrote locked until the server
aborts it for idling past its lifetime: 60 s by default, as MongoDB's `transactionLifetimeLimitSeconds`, which
is longer than the gateway waits (30 s), so writes to those documents would time out with no answer. Agora's
units of work finish in well under a second and give up after 10 s (`agora_common.uow`), so the server may
reap an idle transaction after 5 s: a dead writer's locks clear in seconds. Production sets the same on
MongoDB (deploy/README.md).

    python -m agora_devservers.secantus --port 27017 --storage-path :memory: --transaction-lifetime 5
"""

import argparse
import signal
import sys

from secantus.server import SecantusDBServer

TRANSACTION_LIFETIME_S = 5.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage-path", default=":memory:")
    parser.add_argument("--transaction-lifetime", type=float, default=TRANSACTION_LIFETIME_S,
                        help="seconds an idle transaction keeps its locks before the server aborts it")
    args = parser.parse_args(argv)
    server = SecantusDBServer(host=args.host, port=args.port, storage_path=args.storage_path,
                              replica_set_name="secantus", transaction_lifetime_seconds=args.transaction_lifetime)

    def stop(signum: int, frame: object) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.start()
    server.wait()


if __name__ == "__main__":
    main()

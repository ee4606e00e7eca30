"""The live stream: a faust-streaming app whose agent takes batches of raw messages from the content,
users and events topics and hands them to the processor.

Faust manages the consumer group (short session/rebalance timeouts: the embedded broker is slow to rejoin
with the defaults), offsets and acknowledgements. No faust tables: state is the engine's, rebuilt from the
log at start-up, so a table changelog that recovers off by one (seen on the embedded broker) cannot skew
it, and the consumer group's committed offsets only decide where the live agent resumes; anything it sees
twice is a duplicate the engine ignores.
"""

import logging
import tempfile
from pathlib import Path

import faust
from agora_common.kafka import KafkaConnection
from faust.auth import Credentials

from agora_points.service.processor import PointsProcessor, Raw

log = logging.getLogger(__name__)


def _quiet_faust() -> None:
    # faust and mode log every service start/stop at INFO: keep the service's own logs readable
    for name in ("faust", "mode", "aiokafka"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _credentials(kafka: KafkaConnection) -> Credentials | None:
    """The connection's TLS and SASL settings, as faust takes them."""
    options = kafka.client_options()
    ssl_context = options.get("ssl_context")
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(username=kafka.sasl_username, password=kafka.sasl_password,
                                     mechanism=kafka.sasl_mechanism, ssl_context=ssl_context)
    return faust.SSLCredentials(ssl_context) if ssl_context is not None else None


def build_faust_app(processor: PointsProcessor, *, kafka: KafkaConnection, batch_max: int, batch_within: float,
                    partitions: int, data_dir: str | None = None) -> faust.App:
    _quiet_faust()
    # faust always makes an app directory (default: "<app id>-data" in the working directory); nothing in it
    # matters here (memory store, no tables), so keep it out of wherever the service was started from
    datadir = Path(data_dir or tempfile.gettempdir()) / "faust" / processor.group_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    app = faust.App(
        processor.group_id,
        broker=f"kafka://{kafka.bootstrap}",
        broker_credentials=_credentials(kafka),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        topic_allow_declare=False,  # topics are created by ensure_topics with the platform's settings
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=10,
        broker_max_poll_records=batch_max,
        stream_buffer_maxsize=max(batch_max * 2, 4096),
        producer_acks=-1,
        store="memory://",
        datadir=str(datadir),
    )
    source = app.topic(*processor.input_topics, value_type=bytes, key_type=bytes, value_serializer="raw",
                       key_serializer="raw")

    @app.agent(source, name="points-scorer", concurrency=1)
    async def score(stream):
        async for events in stream.take_events(batch_max, within=batch_within):
            raws = [Raw(e.value, e.key, e.message.topic, e.message.partition, e.message.offset) for e in events]
            try:
                await processor.handle(raws, live=True)
            except Exception as exc:
                # The state is rebuilt from the log at start-up, so a restart repairs whatever this batch
                # missed: liveness fails to get this instance restarted; scoring continues meanwhile.
                log.exception("points batch failed; liveness fails until a restart")
                processor.failure = f"{type(exc).__name__}: {exc}"[:300]

    return app

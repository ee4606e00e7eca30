"""`make run` stops everything it started: a server left running (Redis once was) makes the next `make run`
refuse its port."""

from agora_devservers import start_kafka, start_redis
from agora_devservers.stack import Stack


def test_stopping_the_stack_stops_every_embedded_server_it_started(tmp_path):
    stack = Stack.on_free_ports(tmp_path, say=lambda message: None)
    stack.servers["kafka"] = start_kafka(log_dir=tmp_path)
    stack.servers["redis"] = start_redis(log_dir=tmp_path)
    procs = [server.proc for server in stack.servers.values()]
    stack.stop()
    assert stack.servers == {}
    assert all(proc is not None and proc.poll() is not None for proc in procs)

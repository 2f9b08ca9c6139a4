"""Records what Supvisors 0.14's own event subscriber receives, for tests/test_events.py.

Run with the Python of the Supvisors 0.14 venv (scripts/setup-supvisors.sh, which has pyzmq):

    python tests/event_recorder.py EVENT_PORT OUT_FILE LOG_FILE

It subclasses `supvisors.client.subscriber.SupvisorsEventInterface` (the class 0.14 gives its
users), subscribes to every header, and appends each message to OUT_FILE as one JSON line
`[header, body]`, flushed at once. It ends on SIGTERM or when its standard input closes."""

import json
import signal
import sys
import threading

import zmq
from supvisors.client.subscriber import SupvisorsEventInterface, create_logger


class Recorder(SupvisorsEventInterface):
    def __init__(self, context, port, logger, out):
        super().__init__(context, port, logger)
        self.out = out
        self.lock = threading.Lock()

    def record(self, header, data):
        with self.lock:
            self.out.write(json.dumps([header, data]) + "\n")
            self.out.flush()

    def on_supvisors_status(self, data):
        self.record("supvisors", data)

    def on_instance_status(self, data):
        self.record("instance", data)

    def on_application_status(self, data):
        self.record("application", data)

    def on_process_event(self, data):
        self.record("event", data)

    def on_process_status(self, data):
        self.record("process", data)


def main() -> None:
    port, out_path, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    logger = create_logger(logfile=log_path, stdout=False)
    with open(out_path, "a") as out:
        recorder = Recorder(zmq.Context.instance(), port, logger, out)
        recorder.subscriber.subscribe_all()
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        recorder.start()
        done.wait()
        recorder.stop()
        recorder.join(timeout=5)


if __name__ == "__main__":
    main()

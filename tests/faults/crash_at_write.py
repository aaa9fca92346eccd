"""Run a step, and fail it at its Nth store write: ``python -m tests.faults.crash_at_write``.

Usage: ``crash_at_write N before|after kill|error|kill-store STEP ARGS...``. Every store
write in the process (local folder and Cloud Storage alike) is counted; at the Nth the
process either dies at once with SIGKILL (no cleanup, no ``finally``, as a killed
runner), or the write raises StoreError, or (``kill-store``) the storage emulator whose
pid is ``$FAULT_EMULATOR_PID`` is killed and the write goes ahead against the dead
server, just before or just after the real write. The step is the real
``steps.<STEP>.main``; nothing in the library knows about this.
"""

from __future__ import annotations

import os
import signal
import sys

from heartml.errors import StoreError
from heartml.store.backends import GCSStore, LocalStore

WRITES_LOG = os.environ.get("FAULT_WRITES_LOG")  # where the keys written are listed


def main() -> int:
    target, when, how, step, *args = sys.argv[1:]
    count = {"n": 0}

    def fault(key: str) -> None:
        if how == "kill-store":
            os.kill(int(os.environ["FAULT_EMULATOR_PID"]), signal.SIGKILL)
            return
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise StoreError(f"injected fault at write {target} ({key})")

    def wrap(original):
        def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
            count["n"] += 1
            if WRITES_LOG:
                with open(WRITES_LOG, "a") as log:
                    log.write(f"{count['n']} {key}\n")
            hit = count["n"] == int(target)
            if hit and when == "before":
                fault(key)
            original(self, key, data, exclusive=exclusive)
            if hit and when == "after":
                fault(key)

        return write_bytes

    for cls in (LocalStore, GCSStore):
        cls.write_bytes = wrap(cls.write_bytes)
    module = __import__(f"steps.{step}", fromlist=["main"])
    return module.main(args)


if __name__ == "__main__":
    raise SystemExit(main())

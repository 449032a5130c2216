"""An engine process for the crash test: submits a fixed command list until done.

Run as `python -m tests.engine.engine_runner STORE_URL COMMANDS BATCH`. It
always submits the whole list from the start: what a previous, killed run
already answered comes back as retries and writes nothing, which is how a
storefront resends after a crash. Prints a line per batch, then `done`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.commands import AnyCommand, json_decoder
from engine.engine import Engine
from engine.store import open_factory


def main(url: str, commands_path: str, batch: int) -> None:
    commands: list[AnyCommand] = [
        json_decoder.decode(line) for line in Path(commands_path).read_bytes().splitlines()
    ]
    engine = Engine.open(open_factory(url).application_recorder())
    for start in range(0, len(commands), batch):
        engine.submit(commands[start : start + batch])
        print(start, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

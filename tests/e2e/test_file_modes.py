"""Files the bot creates (database, WAL, heartbeat, media) are 0600 and its folders 0700, even
under the usual 022 umask: a real console bot, run as a process."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

from adapters.private_files import write_private
from tests.e2e.test_console import cli_env
from tests.e2e.test_health import beat_file, wait_for
from tests.fakes.venice import FakeVenice

# The bot as a process with the common umask, so the test does not depend on the runner's.
UMASK_022 = "import os, runpy; os.umask(0o022); runpy.run_module('bots', run_name='__main__')"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_the_database_wal_heartbeat_media_and_their_folders_are_private(
    tmp_path: Path, venice: FakeVenice
) -> None:
    tmp_path.chmod(0o755)  # a folder the operator made, open to others
    data = tmp_path / "data" / "bot"
    env = cli_env(tmp_path, venice, DATABASE_URL=f"sqlite:///{data}/cli.db", USER_ALLOWANCE_USD="5")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        UMASK_022,
        "chat",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        beat = data / beat_file(tmp_path).name
        await wait_for(beat.exists, "the bot's first heartbeat")
        assert mode(beat) == 0o600
        live = {name: mode(data / name) for name in ("cli.db", "cli.db-wal", "cli.db-shm")}
        assert process.stdin is not None
        process.stdin.write(b"/imagine a lighthouse\n")
        process.stdin.close()
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert "image saved to" in out.decode(), out.decode() + err.decode()
    assert live == {"cli.db": 0o600, "cli.db-wal": 0o600, "cli.db-shm": 0o600}
    (saved,) = (tmp_path / "venice-media").iterdir()
    assert mode(saved) == 0o600 and mode(saved.parent) == 0o700
    assert mode(data) == mode(data.parent) == 0o700  # every folder the bot made, parents too
    assert mode(tmp_path) == 0o755  # the folder it found is left as it was


def test_a_private_file_left_wider_by_an_older_version_is_narrowed_when_rewritten(tmp_path: Path) -> None:
    old = tmp_path / "heartbeat"
    old.write_text("{}")
    old.chmod(0o644)
    write_private(old, b"new")
    assert mode(old) == 0o600 and old.read_bytes() == b"new"

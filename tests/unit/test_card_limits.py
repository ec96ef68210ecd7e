"""Character cards are parsed within bounds: a decompression bomb or a card nested 100,000 deep is
refused with a message, not inflated whole or recursed into."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from core.characters.cards import MAX_JSON_DEPTH, parse_card
from core.errors import InvalidInput
from tests.e2e.telegram_support import MB, bomb, bomb_card, card, card_json, card_png, deep_card, with_chunk


def test_a_decompression_bomb_in_a_png_card_is_refused_in_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_card())
    assert path.stat().st_size < 3 * MB
    # A fresh process, so the peak is this parse's and not the test run's. Its VmHWM, not
    # ru_maxrss: Linux carries ru_maxrss over from the forked test run (a few hundred MB by then).
    script = (
        "import sys\n"
        "from core.characters.cards import parse_card\n"
        "from core.errors import InvalidInput\n"
        "try:\n"
        "    parse_card(open(sys.argv[1], 'rb').read())\n"
        "except InvalidInput as exc:\n"
        "    print(exc.user_message)\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"  # KiB
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    message, peak_kib = done.stdout.strip().splitlines()
    assert message.startswith("The card inside the PNG unpacks to more than 4 MB")
    assert int(peak_kib) < 300 * 1024, f"peak memory {int(peak_kib) // 1024} MB"


def test_a_json_card_nested_100000_deep_is_refused() -> None:
    with pytest.raises(InvalidInput, match=f"nested more than {MAX_JSON_DEPTH} levels deep"):
        parse_card(deep_card(100_000))


def test_a_card_in_a_png_nested_100000_deep_is_refused() -> None:
    png = card_png(None, chunk=base64.b64encode(deep_card(100_000)))
    with pytest.raises(InvalidInput, match="nested more than"):
        parse_card(png)


def test_brackets_inside_texts_do_not_count_as_nesting() -> None:
    deep_text = "[{" * 5_000 + ' a \\" quote, and a \\\\ backslash'
    persona = parse_card(
        deep_card(MAX_JSON_DEPTH - 3)[:-2] + b', "note": ' + json.dumps(deep_text).encode() + b"}}"
    )
    assert persona.name == "Captain Mira"


def test_a_compressed_card_chunk_within_the_limit_is_read() -> None:
    text = base64.b64encode(card_json(card("Lady Quill")))
    for kind, body in (
        (b"zTXt", b"chara\0\0" + zlib.compress(text)),
        (b"iTXt", b"chara\0\1\0\0\0" + zlib.compress(text)),
    ):
        assert parse_card(with_chunk(card_png(None), kind, body)).name == "Lady Quill"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"chara\0\0" + b"not zlib at all", "its compressed `chara` chunk does not unpack"),
        (b"chara\0\0" + bomb(5), "unpacks to more than 4 MB"),
    ],
)
def test_a_broken_or_oversized_compressed_chunk_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(InvalidInput, match=says.replace("`", ".")):
        parse_card(with_chunk(card_png(None), b"zTXt", body))


def test_other_compressed_chunks_are_never_inflated() -> None:
    png = with_chunk(card_png(card()), b"zTXt", b"comment\0\0" + bomb(100))
    assert parse_card(png).name == "Captain Mira"

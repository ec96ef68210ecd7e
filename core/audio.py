"""Audio facts read from file headers: duration and format, Ogg/Opus pages, text fit to speak."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass

import mutagen

from core.errors import InvalidInput

TTS_LIMIT = 4096  # Venice's /audio/speech takes at most this many characters
OPUS_RATE = 48_000  # Opus granule positions count 48 kHz samples, whatever the input rate
WAVEFORM_POINTS = 256  # Discord's voice-message waveform: at most 256 one-byte levels

# Formats /audio/transcriptions takes, by what mutagen finds in the file.
_FORMATS = {
    "OggOpus": ("ogg", "audio/ogg"),
    "OggVorbis": ("ogg", "audio/ogg"),
    "OggFLAC": ("ogg", "audio/ogg"),
    "OggSpeex": ("ogg", "audio/ogg"),
    "MP3": ("mp3", "audio/mpeg"),
    "MP4": ("m4a", "audio/mp4"),
    "FLAC": ("flac", "audio/flac"),
    "WAVE": ("wav", "audio/wav"),
    "AAC": ("aac", "audio/aac"),
}
_UNREADABLE = (
    "The bot cannot read that audio: the file is empty, damaged or in a format it does not know. "
    "Send a voice note, or an mp3, m4a, ogg, wav or flac file."
)


@dataclass(frozen=True)
class AudioInfo:
    """What the headers of an audio (or video) file say."""

    format: str  # the extension Venice knows it by: ogg, mp3, m4a, wav, flac, aac, mp4
    mime_type: str
    duration: float


def probe(data: bytes, *, video: bool = False) -> AudioInfo:
    """Read an audio file's format and duration, or raise ``InvalidInput`` (nothing uploaded).

    Only headers are read, so a 25 MB file costs no decoding; an empty or silent-length file
    is refused here rather than paid for at Venice.
    """
    if not data:
        raise InvalidInput(_UNREADABLE)
    try:
        found = mutagen.File(io.BytesIO(data))
    except Exception:  # mutagen raises many types for damaged files  # noqa: BLE001
        found = None
    if found is None or found.info is None:
        raise InvalidInput(_UNREADABLE)
    name = type(found).__name__
    fmt, mime = _FORMATS.get(name, ("", ""))
    if not fmt:
        raise InvalidInput(_UNREADABLE)
    if name == "MP4" and video:
        fmt, mime = "mp4", "video/mp4"
    duration = float(getattr(found.info, "length", 0.0) or 0.0)
    if name == "OggOpus":
        # mutagen stops at the first page flagged end-of-stream: a sender can claim 2 s and
        # carry 400. The stream's own pages say how long it really is.
        duration = max(duration, opus_stream_length(data))
    if duration <= 0:
        raise InvalidInput("That audio has no sound in it (its length is zero).")
    return AudioInfo(fmt, mime, duration)


@dataclass(frozen=True)
class OggPage:
    """One Ogg page: its granule position and the packet bytes it carries (laced)."""

    granule: int
    flags: int
    segments: tuple[int, ...]
    body: bytes


def ogg_pages(data: bytes) -> list[OggPage]:
    """Split an Ogg stream into pages (CRCs are not checked: the data comes from Venice)."""
    pages = []
    offset = 0
    while offset + 27 <= len(data):
        if data[offset : offset + 4] != b"OggS":
            raise ValueError(f"no Ogg page at byte {offset}")
        flags = data[offset + 5]
        granule = struct.unpack_from("<q", data, offset + 6)[0]
        count = data[offset + 26]
        segments = tuple(data[offset + 27 : offset + 27 + count])
        start = offset + 27 + count
        end = start + sum(segments)
        if end > len(data):
            raise ValueError("the last Ogg page is cut short")
        pages.append(OggPage(granule, flags, segments, data[start:end]))
        offset = end
    if not pages:
        raise ValueError("not an Ogg stream")
    return pages


def opus_stream_length(data: bytes) -> float:
    """Seconds an Ogg/Opus upload really holds, read from all of its pages, not its claims.

    The furthest granule position of the Opus stream less the pre-skip; or, when its packets
    hold more audio than the granule positions admit (beyond the end trim a final page may
    make), the packets' own length. Pages after damage are not read; 0.0 when nothing is.
    """
    serial: int | None = None
    pre_skip = furthest = samples = packets = 0
    starts_packet = True  # whether the next segment begins a packet
    offset = 0
    while offset + 27 <= len(data) and data[offset : offset + 4] == b"OggS":
        granule, page_serial = struct.unpack_from("<qI", data, offset + 6)
        count = data[offset + 26]
        position = offset + 27 + count
        segments = data[offset + 27 : position]
        offset = position + sum(segments)
        if len(segments) < count or offset > len(data):
            break
        if serial is None:
            if data[position : position + 8] != b"OpusHead" or position + 12 > len(data):
                return 0.0
            serial, pre_skip = page_serial, struct.unpack_from("<H", data, position + 10)[0]
        if page_serial != serial:  # another stream multiplexed in (a picture, say)
            continue
        furthest = max(furthest, granule)
        for lace in segments:
            if starts_packet and lace:
                packets += 1
                if packets > 2:  # OpusHead and OpusTags carry no audio
                    samples += _opus_samples(data[position : position + 2])
            starts_packet = lace < 255
            position += lace
    claimed = max(0, furthest - pre_skip)
    carried = max(0, samples - pre_skip)
    return (carried if carried - claimed > _MAX_END_TRIM else claimed) / OPUS_RATE


_MAX_END_TRIM = 120 * OPUS_RATE // 1000  # a final page trims at most its last packet: ≤ 120 ms
# Samples (at 48 kHz) in one Opus frame, by the frame-size bits of the TOC byte (RFC 6716 §3.1).
_SILK_FRAME = (480, 960, 1920, 2880)  # 10, 20, 40, 60 ms
_HYBRID_FRAME = (480, 960)
_CELT_FRAME = (120, 240, 480, 960)  # 2.5, 5, 10, 20 ms


def _opus_samples(head: bytes) -> int:
    """Samples an Opus packet decodes to, from its first two bytes (TOC and frame count)."""
    config, code = head[0] >> 3, head[0] & 3
    if config < 12:
        frame = _SILK_FRAME[config % 4]
    elif config < 16:
        frame = _HYBRID_FRAME[config % 2]
    else:
        frame = _CELT_FRAME[config % 4]
    if code == 0:
        return frame
    if code in (1, 2):
        return 2 * frame
    return frame * (head[1] & 0x3F if len(head) > 1 else 0)


def opus_packets(pages: list[OggPage]) -> list[int]:
    """The size of each audio packet (the two header packets left out)."""
    sizes: list[int] = []
    current = 0
    for page in pages:
        for lace in page.segments:
            current += lace
            if lace < 255:
                sizes.append(current)
                current = 0
    return sizes[2:]


def opus_duration(data: bytes) -> float:
    """Seconds of an Ogg/Opus stream, from the last granule position less the pre-skip."""
    pages = ogg_pages(data)
    head = pages[0].body
    if not head.startswith(b"OpusHead"):
        raise ValueError("not an Ogg/Opus stream")
    pre_skip: int = struct.unpack_from("<H", head, 10)[0]
    last: int = max(p.granule for p in pages)
    return max(0.0, (last - pre_skip) / OPUS_RATE)


def waveform(data: bytes, points: int = WAVEFORM_POINTS) -> bytes:
    """A loudness outline of an Ogg/Opus stream for Discord's voice-message player.

    There is no Opus decoder here; an Opus packet's size follows how much is going on in
    its 20 ms (silence codes to a few bytes), which is what the outline needs to show.
    """
    sizes = opus_packets(ogg_pages(data))
    if not sizes:
        return bytes(points)
    buckets = min(points, len(sizes))
    levels = []
    for i in range(buckets):
        chunk = sizes[i * len(sizes) // buckets : (i + 1) * len(sizes) // buckets] or [0]
        levels.append(sum(chunk) / len(chunk))
    top = max(levels) or 1.0
    return bytes(min(255, round(255 * level / top)) for level in levels)


_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]+)\)")
_URL = re.compile(r"https?://\S+")
_MARKUP = re.compile(r"(^|\s)#{1,6}\s|[*_~`>|]")
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+|\n{2,}")


def speakable(text: str) -> str:
    """Text as it should be read aloud: no code blocks, URLs or Markdown symbols."""
    text = _CODE_BLOCK.sub(" (code left out) ", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("(link)", text)
    text = _MARKUP.sub(lambda m: m.group(1) or "", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def speech_parts(text: str, limit: int = TTS_LIMIT) -> list[str]:
    """Split text into parts of at most ``limit`` characters, at sentence ends where possible."""
    parts: list[str] = []
    current = ""
    for raw in _SENTENCE_END.split(text):
        sentence = raw.strip()
        if not sentence:
            continue
        while len(sentence) > limit:  # one huge "sentence": cut at a space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        joined = f"{current} {sentence}".strip()
        if len(joined) > limit:
            parts.append(current)
            current = sentence
        else:
            current = joined
    if current:
        parts.append(current)
    return parts

"""Real, valid media bytes made in pure Python (Pillow for pictures, the rest by hand), and their parsers.

The fake Venice answers with these and tests feed them to the bot, so every file here must be
what a real decoder accepts: Pillow opens the pictures, mutagen parses the Ogg Opus, WAV and MP3
streams, and the MP4 parses box by box. Everything is deterministic: the same arguments give the
same bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, ImageDraw

__all__ = [
    "ImageFormat",
    "Mp4Box",
    "OggPage",
    "adts_aac",
    "encode_image",
    "flac",
    "jpeg",
    "lying_ogg_opus",
    "mp3",
    "mp4_boxes",
    "mp4_duration",
    "mp4_video",
    "mutagen_duration",
    "ogg_crc",
    "ogg_duration",
    "ogg_opus",
    "ogg_packets",
    "opus_duration",
    "parse_ogg",
    "picture",
    "png",
    "sniff_audio",
    "wav",
    "wav_duration",
    "webp",
]

ImageFormat = Literal["png", "jpeg", "webp"]

OPUS_RATE = 48_000  # Ogg Opus granule positions always count 48 kHz samples, whatever the input rate
OPUS_PRE_SKIP = 312  # what libopus's encoder reports at 48 kHz
OPUS_FRAME_SAMPLES = 960  # one 20 ms frame at 48 kHz
OPUS_PACKETS_PER_PAGE = 50  # one second a page, as opusenc does by default
_OPUS_TOC = 0xF8  # config 31 (CELT-only, fullband, 20 ms), mono, code 0 (one frame in the packet)
_OPUS_SILENCE = bytes([_OPUS_TOC, 0xFF, 0xFE])  # the 3-byte packet encoders emit for digital silence
_OGG_SERIAL = 0x56454E49  # "VENI": any fixed number works; a fixed one keeps the bytes deterministic

_BOS, _EOS, _CONTINUED = 0x02, 0x04, 0x01

# ---- pictures ------------------------------------------------------------------------------------


def picture(
    width: int, height: int, *, color: tuple[int, int, int] = (70, 130, 180), seed: int = 0
) -> Image.Image:
    """Draw a deterministic RGB picture: ``color`` at the top fading darker, with shapes placed by ``seed``."""
    if width < 1 or height < 1:
        raise ValueError(f"a picture needs a positive size, not {width}x{height}")
    # A vertical gradient made from one 256-pixel column, stretched: fast even at 1024x1024.
    fade = Image.linear_gradient("L").resize((width, height))
    dark = Image.new("RGB", (width, height), (10, 10, 30))
    image = Image.composite(dark, Image.new("RGB", (width, height), color), fade)
    draw = ImageDraw.Draw(image)
    digest = hashlib.sha256(f"{seed}".encode()).digest()
    # Three shapes whose place, size and colour come from the seed, so different seeds give different images.
    for index in range(3):
        a, b, c, d, r, g = digest[index * 6 : index * 6 + 6]
        x0, y0 = a * width // 256, b * height // 256
        x1, y1 = x0 + max(1, c * width // 512), y0 + max(1, d * height // 512)
        shape = draw.ellipse if index % 2 else draw.rectangle
        shape((x0, y0, x1, y1), fill=(r, g, (r + g) % 256))
    draw.text((4, 4), f"seed {seed}", fill=(255, 255, 255))
    return image


def encode_image(image: Image.Image, format: ImageFormat = "png") -> bytes:
    """Encode a Pillow image as PNG, JPEG or WebP bytes (quick settings: these are fixtures, not art)."""
    out = io.BytesIO()
    if format == "png":
        image.save(out, "PNG", compress_level=1)
    elif format == "jpeg":
        image.convert("RGB").save(out, "JPEG", quality=80)
    elif format == "webp":
        image.save(out, "WEBP", quality=80, method=0)
    else:
        raise ValueError(f"unknown image format {format!r}")
    return out.getvalue()


def png(width: int, height: int, *, color: tuple[int, int, int] = (70, 130, 180), seed: int = 0) -> bytes:
    """Return a PNG of ``width`` x ``height`` (see ``picture``)."""
    return encode_image(picture(width, height, color=color, seed=seed), "png")


def jpeg(width: int, height: int, *, color: tuple[int, int, int] = (70, 130, 180), seed: int = 0) -> bytes:
    """Return a JPEG of ``width`` x ``height`` (see ``picture``)."""
    return encode_image(picture(width, height, color=color, seed=seed), "jpeg")


def webp(width: int, height: int, *, color: tuple[int, int, int] = (70, 130, 180), seed: int = 0) -> bytes:
    """Return a WebP of ``width`` x ``height`` (see ``picture``)."""
    return encode_image(picture(width, height, color=color, seed=seed), "webp")


# ---- Ogg and Opus --------------------------------------------------------------------------------


# Ogg's CRC is zlib's CRC-32 mirrored: zlib reflects bits and inverts the register at both ends, Ogg
# does neither. Reversing the bits of every input byte and of the result, and undoing the inversions,
# gets Ogg's from zlib's C code: fast enough to check a 25 MB upload.
_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(data: bytes) -> int:
    """Return Ogg's CRC-32 of ``data``: polynomial 0x04C11DB7, initial value 0, not reflected, no final xor."""
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


@dataclass(frozen=True)
class OggPage:
    """One parsed Ogg page."""

    header_type: int  # 0x01 continued packet, 0x02 beginning of stream, 0x04 end of stream
    granule_position: int
    serial: int
    sequence: int
    lacing: tuple[int, ...]  # the segment table
    body: bytes
    offset: int  # where the page starts in the stream

    @property
    def bos(self) -> bool:
        """Return whether this page begins its logical stream."""
        return bool(self.header_type & _BOS)

    @property
    def eos(self) -> bool:
        """Return whether this page ends its logical stream."""
        return bool(self.header_type & _EOS)

    @property
    def continued(self) -> bool:
        """Return whether the first packet on this page started on the page before."""
        return bool(self.header_type & _CONTINUED)


def _ogg_page(
    header_type: int, granule: int, sequence: int, packets: list[bytes], serial: int = _OGG_SERIAL
) -> bytes:
    lacing = bytearray()
    for packet in packets:
        # A packet is laced as 255-byte segments and one shorter (possibly empty) one that ends it.
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    if len(lacing) > 255:
        raise ValueError("too many segments for one Ogg page")
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, header_type, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))  # the CRC is computed with its own field zeroed
    return bytes(page)


def _opus_packet(index: int, loud: bool) -> bytes:
    if not loud:
        return _OPUS_SILENCE
    # Sizes swing between ~40 and ~160 bytes so a waveform drawn from packet sizes has a shape.
    size = 100 + int(60 * math.sin(index / 7.0)) + (index * 37) % 11
    # Deterministic filler; a decoder turns arbitrary CELT bytes into noise, which is fine for a fixture.
    filler = hashlib.sha256(index.to_bytes(4, "little")).digest()
    frame = (filler * (size // len(filler) + 1))[: size - 1]
    return bytes([_OPUS_TOC]) + frame


def ogg_opus(seconds: float, *, loud: bool = True, vendor: str = "venice-fake") -> bytes:
    """Return a valid mono Ogg Opus stream of ``seconds`` (20 ms CELT packets; silent packets unless ``loud``)."""
    if seconds <= 0:
        raise ValueError("an Ogg Opus stream needs a positive duration")
    head = struct.pack("<8sBBHIhB", b"OpusHead", 1, 1, OPUS_PRE_SKIP, OPUS_RATE, 0, 0)
    encoded_vendor = vendor.encode()
    tags = b"OpusTags" + struct.pack("<I", len(encoded_vendor)) + encoded_vendor + struct.pack("<I", 0)
    pages = [_ogg_page(_BOS, 0, 0, [head]), _ogg_page(0, 0, 1, [tags])]

    # The decoder drops pre-skip samples first, so the stream carries that many more; the last page's
    # granule position may stop short of its last packet's end, which trims the end to the exact length.
    total = round(seconds * OPUS_RATE) + OPUS_PRE_SKIP
    count = math.ceil(total / OPUS_FRAME_SAMPLES)
    for first in range(0, count, OPUS_PACKETS_PER_PAGE):
        last = min(first + OPUS_PACKETS_PER_PAGE, count)
        packets = [_opus_packet(i, loud) for i in range(first, last)]
        final = last == count
        granule = total if final else last * OPUS_FRAME_SAMPLES
        pages.append(_ogg_page(_EOS if final else 0, granule, len(pages), packets))
    return b"".join(pages)


def lying_ogg_opus(seconds: float, claims: float, *, how: Literal["eos", "granules"] = "eos") -> bytes:
    """Return ``seconds`` of Ogg Opus whose pages claim only ``claims`` seconds (CRCs made right).

    ``eos`` flags the page at ``claims`` as the end of the stream (and the real last page not), so a
    reader that stops at the first end-of-stream page stops there; ``granules`` caps every page's
    granule position at ``claims``, so only the packets themselves tell the real length.
    """
    limit = round(claims * OPUS_RATE)
    pages = []
    for page in parse_ogg(ogg_opus(seconds)):
        flags, granule = page.header_type & ~_EOS, page.granule_position
        if how == "eos" and granule == limit:
            flags |= _EOS
        elif how == "granules":
            granule = min(granule, limit + OPUS_PRE_SKIP)
        header = struct.pack(
            "<4sBBqIIIB", b"OggS", 0, flags, granule, page.serial, page.sequence, 0, len(page.lacing)
        )
        raw = bytearray(header + bytes(page.lacing) + page.body)
        struct.pack_into("<I", raw, 22, ogg_crc(bytes(raw)))
        pages.append(bytes(raw))
    return b"".join(pages)


def parse_ogg(data: bytes) -> list[OggPage]:
    """Parse an Ogg stream page by page, checking capture patterns, versions, lengths and CRCs.

    Raises ValueError, saying where, on anything wrong; an empty input is wrong too.
    """
    if not data:
        raise ValueError("empty Ogg stream")
    pages: list[OggPage] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 27:
            raise ValueError(f"truncated Ogg page header at byte {offset}")
        capture, version, header_type, granule, serial, sequence, crc, count = struct.unpack_from(
            "<4sBBqIIIB", data, offset
        )
        if capture != b"OggS":
            raise ValueError(f"no Ogg capture pattern at byte {offset}")
        if version != 0:
            raise ValueError(f"Ogg page at byte {offset} has version {version}, not 0")
        lacing = tuple(data[offset + 27 : offset + 27 + count])
        end = offset + 27 + count + sum(lacing)
        if len(lacing) < count or end > len(data):
            raise ValueError(f"truncated Ogg page at byte {offset}")
        page = bytearray(data[offset:end])
        struct.pack_into("<I", page, 22, 0)
        if ogg_crc(bytes(page)) != crc:
            raise ValueError(f"bad CRC in the Ogg page at byte {offset}")
        if pages and sequence != pages[-1].sequence + 1 and serial == pages[-1].serial:
            raise ValueError(f"Ogg page at byte {offset} is out of sequence")
        body = data[offset + 27 + count : end]
        pages.append(OggPage(header_type, granule, serial, sequence, lacing, body, offset))
        offset = end
    if not pages[0].bos:
        raise ValueError("the first Ogg page does not begin a stream")
    return pages


def ogg_packets(pages: list[OggPage]) -> list[bytes]:
    """Reassemble the packets of parsed Ogg pages (one logical stream), joining those split across pages."""
    packets: list[bytes] = []
    pending = b""
    for page in pages:
        position = 0
        for size in page.lacing:
            pending += page.body[position : position + size]
            position += size
            if size < 255:  # a segment shorter than 255 ends its packet
                packets.append(pending)
                pending = b""
    if pending:
        raise ValueError("the Ogg stream ends in the middle of a packet")
    return packets


def opus_duration(data: bytes) -> float:
    """Return the playing time of an Ogg Opus stream in seconds (last granule minus pre-skip, at 48 kHz)."""
    pages = parse_ogg(data)
    packets = ogg_packets(pages)
    if not packets or not packets[0].startswith(b"OpusHead") or len(packets[0]) < 19:
        raise ValueError("not an Ogg Opus stream: the first packet is not an OpusHead")
    if len(packets) < 3:
        raise ValueError("the Ogg Opus stream has no audio packets")
    pre_skip: int = struct.unpack_from("<H", packets[0], 10)[0]
    return max(0, pages[-1].granule_position - pre_skip) / OPUS_RATE


# ---- WAV and MP3 ---------------------------------------------------------------------------------


def wav(seconds: float, *, rate: int = 16_000, frequency: float = 440.0) -> bytes:
    """Return a 16-bit mono WAV of a sine tone (16 kHz by default, what speech models resample to)."""
    frames = round(seconds * rate)
    samples = struct.pack(
        f"<{frames}h", *(int(12_000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(frames))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


def wav_duration(data: bytes) -> float:
    """Return a WAV file's duration in seconds; raise ValueError if it is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            return reader.getnframes() / reader.getframerate()
    except (wave.Error, EOFError, ZeroDivisionError) as exc:
        raise ValueError(f"not a readable WAV file: {exc}") from exc


# MPEG-1 Layer III, no CRC, 128 kbit/s, 44.1 kHz, no padding, mono: 417-byte frames of 1152 samples.
_MP3_FRAME_HEADER = bytes([0xFF, 0xFB, 0x90, 0xC4])
_MP3_FRAME_BYTES = 417
_MP3_FRAME_SECONDS = 1152 / 44_100


def mp3(seconds: float) -> bytes:
    """Return a silent MP3: an empty ID3v2.4 tag, then MPEG-1 Layer III frames whose side info is all zero."""
    # All-zero side information means no Huffman data: every decoder plays these frames as silence.
    frame = _MP3_FRAME_HEADER + bytes(_MP3_FRAME_BYTES - len(_MP3_FRAME_HEADER))
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # version 2.4, no flags, a tag size of zero
    return id3 + frame * max(1, math.ceil(seconds / _MP3_FRAME_SECONDS))


def flac(seconds: float, *, rate: int = 24_000) -> bytes:
    """Return a header-only FLAC: the ``fLaC`` marker and a STREAMINFO block giving the length, no frames.

    mutagen reads its length; a decoder plays nothing. Enough for a fake speech answer.
    """
    samples = round(seconds * rate)
    streaminfo = struct.pack(">HH", 4096, 4096) + bytes(6)  # block sizes; frame sizes unknown (0)
    # 20 bits of sample rate, 3 of channels - 1, 5 of bits per sample - 1, 36 of total samples.
    packed = (rate << 44) | (0 << 41) | (15 << 36) | samples
    streaminfo += packed.to_bytes(8, "big") + bytes(16)  # no MD5 of the (absent) audio
    return b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo  # 0x80: the last block


# One silent AAC-LC frame for a mono channel: a single-channel element with max_sfb 0 (no spectral
# data at all), then the END element, 32 bits in all.
_AAC_SILENT_FRAME = int("00000000110010000000000000000111", 2).to_bytes(4, "big")


def adts_aac(seconds: float, *, rate: int = 24_000) -> bytes:
    """Return silent AAC-LC in ADTS framing (mono, 1024 samples a frame; ``rate`` must be 24000 or 48000)."""
    rate_index = {48_000: 3, 24_000: 6}[rate]
    length = 7 + len(_AAC_SILENT_FRAME)
    # Sync 0xFFF, MPEG-4, no CRC; profile LC (1), the rate, mono; frame length; buffer fullness 0x7FF (VBR).
    header = (
        (0xFFF << 44) | (1 << 40) | (1 << 38) | (rate_index << 34) | (1 << 30) | (length << 13) | (0x7FF << 2)
    ).to_bytes(7, "big")
    return (header + _AAC_SILENT_FRAME) * max(1, math.ceil(seconds * rate / 1024))


def mutagen_duration(data: bytes, kind: Literal["mp3", "flac", "aac"]) -> float:
    """Return the duration mutagen reads from an MP3, FLAC or ADTS AAC file; raise ValueError if it cannot."""
    # Imported here: only the fake's transcription endpoint needs them.
    from mutagen import MutagenError
    from mutagen.aac import AAC
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3

    # mutagen.File() cannot guess AAC without a filename; mutagen has no type hints, hence Any.
    parser: Any = {"mp3": MP3, "flac": FLAC, "aac": AAC}[kind]
    try:
        return float(parser(io.BytesIO(data)).info.length)
    except MutagenError as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc


def ogg_duration(data: bytes) -> float:
    """Return the duration of an Ogg Opus or Ogg Vorbis stream; raise ValueError for anything else or broken."""
    pages = parse_ogg(data)
    packets = ogg_packets(pages)
    if packets and packets[0].startswith(b"OpusHead"):
        return opus_duration(data)
    if packets and packets[0].startswith(b"\x01vorbis") and len(packets[0]) >= 16:
        rate: int = struct.unpack_from("<I", packets[0], 12)[0]
        if not rate or len(packets) < 4:  # identification, comment, setup, then audio
            raise ValueError("the Ogg Vorbis stream has no audio")
        return pages[-1].granule_position / rate
    raise ValueError("an Ogg stream of a codec other than Opus or Vorbis")


# ---- MP4 -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mp4Box:
    """One ISO-BMFF box: its four-character type, its payload, and its children when it is a container."""

    type: str
    payload: bytes
    children: tuple[Mp4Box, ...] = ()

    def find(self, path: str) -> Mp4Box | None:
        """Return the descendant at a slash-separated path of box types (``"trak/mdia/hdlr"``), or None."""
        head, _, rest = path.partition("/")
        for child in self.children:
            if child.type == head:
                return child if not rest else child.find(rest)
        return None


_MP4_CONTAINERS = {"moov", "trak", "mdia", "minf", "stbl", "dinf", "edts", "udta"}
_UNITY_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def _box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode("ascii")) + payload


def mp4_video(seconds: float, *, width: int = 320, height: int = 240) -> bytes:
    """Return a small structurally valid MP4: ``ftyp``, ``moov`` (``mvhd`` with the duration, one video
    ``trak``) and an ``mdat``. It has no sample tables, so players will not show frames: it is a fixture
    for sniffing, sizes and durations.
    """
    timescale = 1000
    duration = round(seconds * timescale)
    ftyp = _box("ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    mvhd = _box(
        "mvhd",
        struct.pack(
            ">IIIII", 0, 0, 0, timescale, duration
        )  # version 0 and flags; creation, modification times
        + struct.pack(">IH", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + bytes(10)
        + _UNITY_MATRIX
        + bytes(24)
        + struct.pack(">I", 2),  # next track id
    )
    tkhd = _box(
        "tkhd",
        struct.pack(">IIIIII", 0x00000003, 0, 0, 1, 0, duration)  # enabled and in movie; track 1
        + bytes(8)
        + struct.pack(">hhH", 0, 0, 0)  # layer, alternate group, volume (0 for video)
        + bytes(2)
        + _UNITY_MATRIX
        + struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _box("mdhd", struct.pack(">IIIIIHH", 0, 0, 0, timescale, duration, 0x55C4, 0))  # language "und"
    hdlr = _box("hdlr", struct.pack(">II4s", 0, 0, b"vide") + bytes(12) + b"VideoHandler\x00")
    trak = _box("trak", tkhd + _box("mdia", mdhd + hdlr))
    mdat = _box("mdat", hashlib.sha256(f"{seconds}".encode()).digest() * 8)
    return ftyp + _box("moov", mvhd + trak) + mdat


def mp4_boxes(data: bytes) -> list[Mp4Box]:
    """Parse ISO-BMFF boxes (descending into the usual containers); raise ValueError on a broken box."""
    boxes: list[Mp4Box] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 8:
            raise ValueError(f"truncated MP4 box header at byte {offset}")
        size, raw_kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if len(data) - offset < 16:
                raise ValueError(f"truncated MP4 box header at byte {offset}")
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:  # the box runs to the end of the file
            size = len(data) - offset
        if size < header or offset + size > len(data):
            raise ValueError(f"MP4 box at byte {offset} has a bad size {size}")
        kind = raw_kind.decode("latin-1")
        payload = data[offset + header : offset + size]
        children = tuple(mp4_boxes(payload)) if kind in _MP4_CONTAINERS else ()
        boxes.append(Mp4Box(kind, payload, children))
        offset += size
    return boxes


def mp4_duration(data: bytes) -> float:
    """Return an MP4/M4A file's duration from its ``mvhd`` box, in seconds; raise ValueError if there is none."""
    for box in mp4_boxes(data):
        mvhd = box.find("mvhd") if box.type == "moov" else None
        if mvhd is None:
            continue
        if mvhd.payload[:1] == b"\x01":  # version 1: 64-bit times and duration
            timescale, duration = struct.unpack_from(">IQ", mvhd.payload, 20)
        else:
            timescale, duration = struct.unpack_from(">II", mvhd.payload, 12)
        if not timescale:
            raise ValueError("the MP4 mvhd box has a zero timescale")
        return float(duration / timescale)
    raise ValueError("no moov/mvhd box: not an MP4 file, or one with its index missing")


# ---- sniffing ------------------------------------------------------------------------------------


def sniff_audio(data: bytes) -> str | None:
    """Name an audio container from its magic bytes: wav, flac, ogg, mp3, aac, mp4 or webm; None otherwise."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3":
        return "mp3"
    if data[4:8] == b"ftyp":
        return "mp4"  # m4a is the same container
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"  # EBML: Matroska and WebM share it
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xF0 == 0xF0:
        # A 12-bit frame sync: layer bits 00 make it an ADTS (AAC) header, anything else MPEG audio.
        return "aac" if data[1] & 0x06 == 0 else "mp3"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "mp3"  # MPEG-2.5 uses an 11-bit sync
    return None

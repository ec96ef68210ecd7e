"""Tiny real documents (PDF, DOCX, PPTX, XLSX) made in pure Python, and the text extraction the
fake Venice's ``/augment/text-parser`` does on them.

The Office files are the zip-of-XML packages Word, PowerPoint and Excel open (the parts a reader
needs, nothing more); the PDF is one page with one text line a ``Tj``. Deterministic: the same
text gives the same bytes. Extraction reads exactly these structures, and refuses anything it
cannot read, as Venice answers a damaged file with a 400.
"""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree
from xml.sax.saxutils import escape

__all__ = ["DocumentError", "docx", "extract_text", "pdf", "pptx", "xlsx"]

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_P = "http://schemas.openxmlformats.org/presentationml/2006/main"
_S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OFFICE = "application/vnd.openxmlformats-officedocument"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DATE = (1980, 1, 1, 0, 0, 0)  # zip entries carry a time: a fixed one keeps the bytes deterministic
_TEXT_EXTENSIONS = frozenset({"txt", "md", "csv", "json", "yaml", "yml", "xml", "html", "log", "py"})
_TJ = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj")


class DocumentError(ValueError):
    """A file the fake parser cannot read: a damaged file, or a type it does not take."""


# ---- making -----------------------------------------------------------------------------------------


def pdf(*lines: str) -> bytes:
    """A one-page PDF showing ``lines`` (Latin-1 text), with a correct cross-reference table."""
    shown = b"".join(b"(" + _pdf_escape(line).encode("latin-1") + b") Tj 0 -16 Td\n" for line in lines)
    stream = b"BT /F1 12 Tf 72 720 Td\n" + shown + b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def docx(*paragraphs: str) -> bytes:
    """A Word document of ``paragraphs``."""
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in paragraphs)
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>'
    return _package(
        f"{_OFFICE}.wordprocessingml.document.main+xml",
        "word/document.xml",
        {"word/document.xml": document},
    )


def pptx(*slides: str) -> bytes:
    """A PowerPoint deck, one slide per text."""
    parts = {
        f"ppt/slides/slide{number}.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:p="{_P}" xmlns:a="{_A}"><p:cSld><p:spTree>'
            f"<p:sp><p:txBody><a:p><a:r><a:t>{escape(text)}</a:t></a:r></a:p></p:txBody></p:sp>"
            "</p:spTree></p:cSld></p:sld>"
        )
        for number, text in enumerate(slides, start=1)
    }
    listed = "".join(f'<p:sldId id="{255 + n}" r:id="rId{n}"/>' for n in range(1, len(slides) + 1))
    parts["ppt/presentation.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><p:presentation xmlns:p="{_P}" xmlns:r="{_RELS}">'
        f"<p:sldIdLst>{listed}</p:sldIdLst></p:presentation>"
    )
    return _package(f"{_OFFICE}.presentationml.presentation.main+xml", "ppt/presentation.xml", parts)


def xlsx(rows: list[list[str | int | float]]) -> bytes:
    """An Excel workbook with one sheet of ``rows`` (strings inline, numbers as numbers)."""
    cells = []
    for index, row in enumerate(rows, start=1):
        values = "".join(
            f"<c><v>{value}</v></c>"
            if isinstance(value, (int, float))
            else f'<c t="inlineStr"><is><t>{escape(value)}</t></is></c>'
            for value in row
        )
        cells.append(f'<row r="{index}">{values}</row>')
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_S}"><sheetData>{"".join(cells)}'
        "</sheetData></worksheet>"
    )
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_S}" xmlns:r="{_RELS}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    return _package(
        f"{_OFFICE}.spreadsheetml.sheet.main+xml",
        "xl/workbook.xml",
        {"xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet},
    )


def _package(main_type: str, main: str, parts: dict[str, str]) -> bytes:
    """An Office Open XML package: the content types, the package relationship, the parts."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main}" ContentType="{main_type}"/></Types>'
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PACKAGE_RELS}">'
        f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="{main}"/></Relationships>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in {"[Content_Types].xml": content_types, "_rels/.rels": rels, **parts}.items():
            package.writestr(zipfile.ZipInfo(name, _DATE), text)
    return out.getvalue()


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# ---- reading ----------------------------------------------------------------------------------------


def extract_text(data: bytes, filename: str, content_type: str | None = None) -> str:
    """The text of a document, as the fake parser reads it; raises ``DocumentError`` when it cannot."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension == "pdf" or data.startswith(b"%PDF-"):
        return _pdf_text(data)
    if extension in ("docx", "pptx", "xlsx"):
        return _office_text(data, extension)
    if extension in _TEXT_EXTENSIONS or (content_type or "").startswith("text/"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("The file is not valid UTF-8 text") from None
    raise DocumentError(f"Unsupported file type: {extension or content_type or 'unknown'}")


def _pdf_text(data: bytes) -> str:
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise DocumentError("The file is not a valid PDF")
    lines = [_pdf_unescape(match.group(1)) for match in _TJ.finditer(data)]
    return "\n".join(lines)


def _pdf_unescape(raw: bytes) -> str:
    return re.sub(rb"\\(.)", rb"\1", raw).decode("latin-1")


def _office_text(data: bytes, extension: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = package.namelist()
            if extension == "docx":
                return _texts(package.read("word/document.xml"), f"{{{_W}}}p", f"{{{_W}}}t", "")
            if extension == "pptx":
                slides = sorted(
                    (n for n in names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                    key=lambda n: int(re.sub(r"\D", "", n)),
                )
                return "\n\n".join(_texts(package.read(n), f"{{{_A}}}p", f"{{{_A}}}t", "") for n in slides)
            sheets = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
            return "\n\n".join(_texts(package.read(n), f"{{{_S}}}row", f"{{{_S}}}c", "\t") for n in sheets)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
        raise DocumentError(f"The file is not a valid {extension.upper()} document") from None


def _texts(xml: bytes, block: str, item: str, joiner: str) -> str:
    """Each ``block`` element's ``item`` texts joined, one block a line."""
    root = ElementTree.fromstring(xml)
    return "\n".join(joiner.join("".join(i.itertext()) for i in b.iter(item)) for b in root.iter(block))

"""Carrying an input's XMP and IPTC over to its colorized copy (exiv2, through pyexiv2).

What a cataloguer wrote about the photograph (caption or description, creator, copyright and
rights, dates, keywords, location) belongs to the copy too. EXIF travels with the pixels
(:mod:`colorize_cli.imagefile`); this module copies the XMP and IPTC IIM records, after the output
is written and before it is renamed into place, keeping the provenance packet's own fields.

Needs the ``[metadata]`` extra (pyexiv2); without it only EXIF and the provenance are written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

# XMP that describes this file rather than the photograph, or that the provenance packet sets:
# never copied from the input.
_XMP_NOT_CARRIED = (
    "Xmp.xmpMM.",  # document and instance IDs, history: this file's own
    "Xmp.xmp.CreatorTool",
    "Xmp.iptcExt.DigitalSourceType",
    "Xmp.tiff.",  # pixel dimensions, orientation, bit depth: the output's own (EXIF says them)
    "Xmp.exif.PixelXDimension",
    "Xmp.exif.PixelYDimension",
    "Xmp.photoshop.ICCProfile",
    "Xmp.photoshop.ColorMode",
    "Xmp.photoshop.History",
)
# exiv2 writes IPTC IIM into these formats; PNG and WebP keep the same fields in XMP.
_IPTC_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff")
# IPTC IIM datasets and the XMP properties that hold the same field (IPTC Photo Metadata
# Standard's mapping): filled in when the input's XMP lacks them, so every format keeps them.
_XMP_FOR_IPTC = {
    "Iptc.Application2.Caption": ("Xmp.dc.description", "alt"),
    "Iptc.Application2.Byline": ("Xmp.dc.creator", "seq"),
    "Iptc.Application2.Copyright": ("Xmp.dc.rights", "alt"),
    "Iptc.Application2.Keywords": ("Xmp.dc.subject", "bag"),
    "Iptc.Application2.ObjectName": ("Xmp.dc.title", "alt"),
    "Iptc.Application2.DateCreated": ("Xmp.photoshop.DateCreated", "text"),
    "Iptc.Application2.Headline": ("Xmp.photoshop.Headline", "text"),
    "Iptc.Application2.Credit": ("Xmp.photoshop.Credit", "text"),
    "Iptc.Application2.Source": ("Xmp.photoshop.Source", "text"),
    "Iptc.Application2.City": ("Xmp.photoshop.City", "text"),
    "Iptc.Application2.ProvinceState": ("Xmp.photoshop.State", "text"),
    "Iptc.Application2.CountryName": ("Xmp.photoshop.Country", "text"),
    "Iptc.Application2.SubLocation": ("Xmp.iptc.Location", "text"),
}


def _xmp_value(value: Any, kind: str) -> Any:
    items = value if isinstance(value, list) else [value]
    if kind == "alt":
        return {'lang="x-default"': str(items[0])}
    if kind in ("seq", "bag"):
        return [str(v) for v in items]
    return str(items[0])


def available() -> bool:
    """Whether pyexiv2 can be imported (the ``[metadata]`` extra)."""
    try:
        import pyexiv2  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or a wheel without its libexiv2: not available
        return False
    return True


@dataclass
class SourceMetadata:
    """The input's XMP (exiv2 keys, e.g. ``Xmp.dc.description``) and IPTC IIM records to carry."""

    xmp: dict[str, Any] = field(default_factory=dict)
    iptc: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.xmp or self.iptc)


def read_source_metadata(path: str | os.PathLike) -> SourceMetadata:
    """The XMP and IPTC of ``path`` worth carrying (empty without pyexiv2 or on an unreadable block)."""
    meta = SourceMetadata()
    if not available():
        return meta
    import pyexiv2

    try:
        with pyexiv2.Image(os.fspath(path)) as img:
            xmp, iptc = img.read_xmp(), img.read_iptc()
    except Exception:  # noqa: BLE001 - a damaged block costs the metadata, never the photo
        return meta
    meta.xmp = {k: v for k, v in xmp.items() if not k.startswith(_XMP_NOT_CARRIED)}
    meta.iptc = {k: v for k, v in iptc.items() if k.startswith("Iptc.Application2.") and k != "Iptc.Application2.RecordVersion"}
    for dataset, (prop, kind) in _XMP_FOR_IPTC.items():
        if dataset in meta.iptc and prop not in meta.xmp:
            meta.xmp[prop] = _xmp_value(meta.iptc[dataset], kind)
    return meta


def write_metadata(path: str | os.PathLike, meta: SourceMetadata, *, suffix: str) -> list[str]:
    """Merge ``meta`` into the file at ``path`` (an output being written, of type ``suffix``);
    returns notes for the report."""
    if not meta:
        return []
    import pyexiv2

    notes = []
    with pyexiv2.Image(os.fspath(path)) as img:
        if meta.xmp:
            img.modify_xmp(meta.xmp)
        if meta.iptc and suffix.lower() in _IPTC_SUFFIXES:
            img.modify_iptc(meta.iptc)
    with open(path, "rb+") as fh:  # exiv2 rewrote the file: make it durable before the rename
        os.fsync(fh.fileno())
    return notes

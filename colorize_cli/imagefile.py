"""Reading photos of any Pillow mode into full-resolution L*, and writing colorized results.

Decoding applies the EXIF orientation, refuses decompression bombs before any pixel is decoded,
takes the first frame of multi-frame files (and says so), and keeps what the output needs: alpha,
bit depth, EXIF (with orientation reset) and the container format. Writing is atomic (see
:mod:`colorize_cli.fsutil`) and always tags the output as sRGB.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorize_cli import lab
from colorize_cli.errors import InputError
from colorize_cli.fsutil import atomic_target
from colorize_cli.metadata import SourceMetadata, write_metadata
from colorize_cli.triage import classify_rgb

# Pixels are decoded in row blocks of about this many pixels, so a 100 MP scan never needs a
# whole-image float copy beyond the L* plane itself.
BLOCK_PIXELS = 1 << 21
DEFAULT_MAX_PIXELS = 200_000_000  # > a 100 MP scan; a 60000x60000 "bomb" header is refused

FORMAT_SUFFIX = {"jpg": ".jpg", "png": ".png", "tiff": ".tif", "webp": ".webp"}
_PIL_FORMAT_BY_SUFFIX = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
IMAGE_SUFFIXES = frozenset(_PIL_FORMAT_BY_SUFFIX)  # the inputs a folder walk picks up
_ALPHA_FORMATS = {"PNG", "TIFF", "WEBP"}
_SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}

_ORIENTATION_TAG = 0x0112


class DecodedImage:
    """A decoded photo, reduced to what colorization needs.

    Attributes:
        L: ``(H, W)`` float32 L* in [0, 100] at full resolution, orientation applied. For an 8-bit
            gray photo it is computed from ``gray8`` on first access (the CLI never needs it).
        gray8: ``(H, W)`` uint8 sRGB-encoded gray codes when the photo is 8-bit gray, else None.
            The same lightness as ``L``, exactly (one L* per code), in a quarter of the memory.
        alpha: ``(H, W)`` uint8 or uint16 alpha, or None.
        bit_depth: 8 or 16 (16 for 16-bit/32-bit gray sources; selects 16-bit PNG/TIFF output).
        exif: EXIF bytes to write back (orientation reset to 1), or None.
        format: the source's Pillow format name (``"JPEG"``, ``"PNG"``...).
        notes: remarks for the report (first frame of many used, EXIF dropped, ...).
        kind: ``"gray"``, ``"toned"`` or ``"color"`` (:mod:`colorize_cli.triage`), from the
            source's own chroma.
    """

    def __init__(
        self,
        L: np.ndarray | None = None,
        alpha: np.ndarray | None = None,
        bit_depth: int = 8,
        exif: bytes | None = None,
        format: str | None = None,  # noqa: A002 - Pillow's name for it
        notes: list[str] | None = None,
        *,
        gray8: np.ndarray | None = None,
        kind: str = "gray",
    ) -> None:
        if L is None and gray8 is None:
            raise ValueError("DecodedImage needs L or gray8")
        self._L = L
        self.gray8 = gray8
        self.alpha = alpha
        self.bit_depth = bit_depth
        self.exif = exif
        self.format = format
        self.notes = [] if notes is None else notes
        self.kind = kind

    @property
    def L(self) -> np.ndarray:
        if self._L is None:
            self._L = _gray_to_l(self.gray8, 255)
        return self._L

    @property
    def lightness(self) -> np.ndarray:
        """What the pipeline takes: ``gray8`` when there is one (cheaper to resize and join), else ``L``."""
        return self.gray8 if self.gray8 is not None else self.L

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        plane = self.lightness
        return int(plane.shape[1]), int(plane.shape[0])


def is_image_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` has one of the supported image suffixes (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def pil_format_for_suffix(suffix: str) -> str | None:
    """The Pillow format name for a file suffix (any case), or None if unsupported."""
    return _PIL_FORMAT_BY_SUFFIX.get(suffix.lower())


def pil_format_for(path: str | os.PathLike) -> str:
    """The Pillow format name for an output path's suffix."""
    suffix = Path(path).suffix.lower()
    try:
        return _PIL_FORMAT_BY_SUFFIX[suffix]
    except KeyError:
        raise InputError(
            f"unsupported file type {suffix or '(none)'!r}: outputs can be jpg, png, tif, bmp or webp "
            "(add --format png to convert it)"
        ) from None


# --- decoding --------------------------------------------------------------------------------------
def _gray_to_l(gray: np.ndarray, max_value: int) -> np.ndarray:
    """Gray codes 0..max_value (sRGB-encoded) -> L*; exact and cheap for 8- and 16-bit grays."""
    return lab.gray_l_lut(max_value)[gray]


def _rgb8_to_l(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB -> ``(H, W)`` float32 L*, in row blocks (luminance, then L*)."""
    h, w = rgb.shape[:2]
    lut = lab.linear_lut(255)
    wr, wg, wb = (float(c) for c in lab.Y_FROM_RGB)
    out = np.empty((h, w), dtype=np.float32)
    rows = max(1, BLOCK_PIXELS // max(w, 1))
    for r0 in range(0, h, rows):
        blk = rgb[r0 : r0 + rows]
        y = lut[blk[..., 0]] * wr
        y += lut[blk[..., 1]] * wg
        y += lut[blk[..., 2]] * wb
        out[r0 : r0 + rows] = lab.luminance_to_l(np.clip(y, 0.0, 1.0))
    return out


def _float_gray_to_l(gray: np.ndarray) -> np.ndarray:
    """``(H, W)`` float gray in [0, 1] (sRGB-encoded) -> L*."""
    h, w = gray.shape
    out = np.empty((h, w), dtype=np.float32)
    rows = max(1, BLOCK_PIXELS // max(w, 1))
    for r0 in range(0, h, rows):
        g = np.clip(gray[r0 : r0 + rows].astype(np.float32), 0.0, 1.0)
        out[r0 : r0 + rows] = lab.luminance_to_l(lab.srgb_to_linear(g))
    return out


def _exif_bytes(im: Image.Image, notes: list[str]) -> bytes | None:
    """The image's EXIF with orientation reset to 1 (pixels are already rotated), or None."""
    if "exif" not in im.info:
        return None
    try:
        exif = Image.Exif()  # a fresh copy: the image's own cached Exif drives exif_transpose
        exif.load(im.info["exif"])
        if _ORIENTATION_TAG in exif:
            exif[_ORIENTATION_TAG] = 1
        data = exif.tobytes()
        return data or None
    except Exception as exc:  # noqa: BLE001 - a damaged EXIF block must not cost the photo
        notes.append(f"EXIF block unreadable, not copied ({type(exc).__name__})")
        return None


def _apply_orientation(im: Image.Image, notes: list[str]) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception as exc:  # noqa: BLE001 - corrupt EXIF: keep the pixels as stored
        notes.append(f"EXIF orientation unreadable, image kept as stored ({type(exc).__name__})")
        return im


_PROFILE_SPACE_FOR_MODE = {"L": "GRAY", "LA": "GRAY", "RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK"}


def _describes_srgb(profile) -> bool:
    from PIL import ImageCms

    return "srgb" in (ImageCms.getProfileDescription(profile) or "").lower()


def _profile_lightness(im: Image.Image, notes: list[str]) -> np.ndarray | None:
    """L* ``(H, W)`` float32 through the image's embedded ICC profile (LittleCMS), or None when it
    has none, an sRGB one (the default path is exact for those) or one that does not fit its mode.

    Gray profiles (Gray Gamma 1.8 / 2.2, Dot Gain 20%, a scanner's curve), RGB ones (Adobe RGB,
    ProPhoto) and CMYK ones: the pixels go to CIE L*a*b* (D50, the ICC connection space) and L*
    is kept, to 100/255 of a unit. 16-bit gray goes through the profile's curve sampled at 256
    codes and interpolated (LittleCMS in Pillow transforms 8-bit modes).
    """
    icc = im.info.get("icc_profile")
    if not icc:
        return None
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if _describes_srgb(src):
            return None
        space = src.profile.xcolor_space.strip()
        sixteen = im.mode.startswith("I;16") or im.mode == "I"
        mode = "L" if sixteen else "RGB" if im.mode == "RGBA" else "L" if im.mode == "LA" else im.mode
        if _PROFILE_SPACE_FOR_MODE.get(mode) != space:
            notes.append(f"ICC profile ({space}) does not fit the {im.mode} pixels: read as sRGB")
            return None
        # LittleCMS's optimized 8-bit RGB pipeline (a precalculated grid) misses L* by up to ~3
        # units near black for a linear-light profile; unoptimized it is exact to 0.2 (and about 5x
        # slower: 3 s for 12 MP on this CPU). A gray profile's single curve is exact either way.
        flags = ImageCms.Flags.NONE if mode == "L" else ImageCms.Flags.NOOPTIMIZE
        to_lab = ImageCms.buildTransform(
            src, ImageCms.createProfile("LAB"), mode, "LAB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, flags=flags,
        )
        if sixteen:
            ramp = Image.fromarray(np.arange(256, dtype=np.uint8)[None, :], "L")
            curve = np.asarray(ImageCms.applyTransform(ramp, to_lab))[0, :, 0].astype(np.float32) * (100.0 / 255.0)
            codes = np.clip(np.asarray(im), 0, 65535).astype(np.float32) / 257.0
            return np.interp(codes, np.arange(256, dtype=np.float32), curve).astype(np.float32)
        source = im.convert(mode) if im.mode != mode else im
        lab_pixels = np.asarray(ImageCms.applyTransform(source, to_lab))
        return lab_pixels[..., 0].astype(np.float32) * np.float32(100.0 / 255.0)
    except Exception as exc:  # noqa: BLE001 - a broken profile: treat the pixels as sRGB
        notes.append(f"ICC profile unusable, pixels read as sRGB ({type(exc).__name__})")
        return None


def _to_srgb_if_tagged(im: Image.Image, notes: list[str]) -> Image.Image:
    """Convert RGB pixels with an embedded non-sRGB ICC profile (e.g. Adobe RGB) to sRGB."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA"):
        return im
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if _describes_srgb(src):
            return im
        return ImageCms.profileToProfile(im, src, _srgb_profile(), outputMode=im.mode)
    except Exception as exc:  # noqa: BLE001 - a broken profile: treat the pixels as sRGB
        notes.append(f"ICC profile unusable, pixels read as sRGB ({type(exc).__name__})")
        return im


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def require_regular_file(path: str | os.PathLike) -> os.stat_result:
    """``os.stat(path)`` (symlinks followed) of a regular file; :class:`InputError` for anything else.

    Opening a FIFO blocks until some other process writes to it, and a device may never end: a
    batch must refuse them up front rather than hang on them.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("file not found (or a dangling symlink)") from None
    except PermissionError:
        raise InputError("permission denied") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _SPECIAL_KINDS if test(st.st_mode)), "a special file")
        raise InputError(f"not a regular file ({kind})")
    return st


def decode_image(source: str | os.PathLike | Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode a file (or an open PIL image) into full-resolution L*, alpha, bit depth and EXIF.

    Raises :class:`InputError` with a one-line reason for empty, truncated, unidentifiable or
    oversized files. Never modifies the source file.
    """
    notes: list[str] = []
    if isinstance(source, Image.Image):
        return _decode_pil(source, max_pixels=max_pixels, notes=notes)
    path = Path(source)
    try:
        if require_regular_file(path).st_size == 0:
            raise InputError("empty file (0 bytes)")
        with Image.open(path) as im:
            return _decode_pil(im, max_pixels=max_pixels, notes=notes)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read (unknown or corrupt format)") from None
    except Image.DecompressionBombError as exc:
        # Pillow's own process-wide guard (PIL.Image.MAX_IMAGE_PIXELS), which the host process
        # owns; the command line lifts it and applies --max-pixels alone.
        raise InputError(f"refused by Pillow's decompression-bomb guard (raise --max-pixels or PIL.Image.MAX_IMAGE_PIXELS): {exc}") from None
    except FileNotFoundError:
        raise InputError("file not found (or a dangling symlink)") from None
    except PermissionError:
        raise InputError("permission denied") from None
    except OSError as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower() or "broken data stream" in reason.lower():
            reason = f"truncated or corrupt image data ({reason})"
        raise InputError(reason) from None
    except (ValueError, SyntaxError, struct.error, zlib.error, EOFError, MemoryError) as exc:
        raise InputError(f"corrupt image ({type(exc).__name__}: {exc})") from None


def _decode_pil(im: Image.Image, *, max_pixels: int, notes: list[str]) -> DecodedImage:
    width, height = im.size
    if width * height > max_pixels:
        raise InputError(
            f"refused: {width}x{height} = {width * height / 1e6:.0f} MP exceeds --max-pixels "
            f"{max_pixels / 1e6:.0f} MP (raise it if the file is a genuine scan)"
        )
    if width < 1 or height < 1:
        raise InputError("image has no pixels")
    fmt = im.format
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        im.seek(0)
        notes.append(f"multi-frame file: colorized frame 1 of {frames}")
    exif = _exif_bytes(im, notes)
    # Pillow may warn here (odd EXIF, ...); the CLI filters Pillow's warnings once on its main
    # thread. No warnings.catch_warnings() here: decoders run in threads, and it is not thread-safe.
    im.load()
    im = _apply_orientation(im, notes)
    profiled = _profile_lightness(im, notes)  # None: no profile, or sRGB's
    mode = im.mode
    alpha = None
    bit_depth = 8
    kind = "gray"  # every mode but RGB(A) has no chroma

    if mode == "P" or mode == "PA":
        im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
        mode = im.mode
    elif mode == "1":
        im = im.convert("L")
        mode = "L"
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        im = im.convert("RGB") if mode != "RGBa" else im.convert("RGBA")
        im.info.pop("icc_profile", None)  # a CMYK profile does not describe the converted pixels
        mode = im.mode
    elif mode == "La":
        im = im.convert("LA")
        mode = "LA"

    if mode in ("RGB", "RGBA"):
        im = _to_srgb_if_tagged(im, notes)  # sRGB pixels for the triage; L* from the profile itself
        arr = np.asarray(im)
        if mode == "RGBA":
            alpha = np.ascontiguousarray(arr[..., 3])
        L = profiled if profiled is not None else _rgb8_to_l(arr[..., :3])
        kind = classify_rgb(arr)
    elif mode in ("L", "LA"):
        arr = np.asarray(im)
        if mode == "LA":
            alpha = np.ascontiguousarray(arr[..., 1])
            arr = arr[..., 0]
        if profiled is not None:
            return DecodedImage(L=profiled, alpha=alpha, bit_depth=8, exif=exif, format=fmt, notes=notes)
        return DecodedImage(
            gray8=np.ascontiguousarray(arr), alpha=alpha, bit_depth=8, exif=exif, format=fmt, notes=notes
        )
    elif mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if mode == "I":
            arr = np.clip(arr, 0, 65535)
        L = profiled if profiled is not None else _gray_to_l(arr.astype(np.uint16, copy=False), 65535)
        bit_depth = 16
    elif mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        finite = arr[np.isfinite(arr)]
        peak = float(finite.max()) if finite.size else 1.0
        scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
        L = _float_gray_to_l(np.nan_to_num(arr / scale))
        bit_depth = 16
    else:
        raise InputError(f"unsupported image mode {mode!r}")
    return DecodedImage(L=L, alpha=alpha, bit_depth=bit_depth, exif=exif, format=fmt, notes=notes, kind=kind)


# --- encoding --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


# The creation date written into the embedded profile (ICC header bytes 24-35: year, month, day,
# hour, minute, second). LittleCMS stamps the current time, so two runs over the same photos wrote
# files that differed in those bytes; a fixed date keeps outputs reproducible byte for byte.
_ICC_DATE = (2026, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def srgb_icc_bytes() -> bytes:
    """An sRGB ICC profile to embed in every output: the same bytes in every run.

    Its header carries a fixed creation date (``_ICC_DATE``). Bytes 84-99, the optional MD5
    profile ID that would cover the date, are zero in what Pillow's LittleCMS writes ("not
    computed", which the ICC spec allows); they are zeroed again in case a build computes one.
    """
    data = bytearray(_srgb_profile().tobytes())
    data[24:36] = struct.pack(">6H", *_ICC_DATE)
    data[84:100] = bytes(16)
    return bytes(data)


def write_image(
    path: str | os.PathLike,
    pixels: np.ndarray,
    *,
    exif: bytes | None = None,
    quality: int = 95,
    xmp: bytes | None = None,
    carry: SourceMetadata | None = None,
    finalize: Callable[[Path], list[str]] | None = None,
) -> list[str]:
    """Atomically write ``(H, W, 3|4)`` uint8/uint16 sRGB pixels to ``path`` (format from suffix).

    16-bit pixels are written as 16-bit PNG/TIFF; other formats get 8 bits. Alpha is dropped
    (and reported) for formats without it. ``xmp`` (a packet, e.g. :mod:`colorize_cli.provenance`)
    goes where each format keeps it: JPEG APP1, PNG iTXt ``XML:com.adobe.xmp``, TIFF tag 700,
    WebP's XMP chunk; BMP has no place for it (reported). ``carry`` (the input's XMP and IPTC,
    :mod:`colorize_cli.metadata`) is merged in, then ``finalize(tmp)`` runs (e.g. C2PA signing, which
    must see the finished bytes), before the file is renamed into place. Returns notes for the report.
    """
    path = Path(path)
    fmt = pil_format_for(path)
    notes: list[str] = []
    if pixels.shape[-1] == 4 and fmt not in _ALPHA_FORMATS:
        pixels = pixels[..., :3]
        notes.append(f"alpha channel dropped: {fmt} has none")
    if pixels.dtype == np.uint16 and fmt not in _SIXTEEN_BIT_FORMATS:
        pixels = (pixels.astype(np.uint32) * 255 + 32767) // 65535
        pixels = pixels.astype(np.uint8)
        notes.append(f"written with 8 bits per channel: {fmt} has no 16-bit mode")
    if xmp and fmt == "BMP":
        xmp = None
        notes.append("no provenance metadata: BMP cannot carry XMP")
    with atomic_target(path) as tmp:
        if pixels.dtype == np.uint16:
            if fmt == "PNG":
                _write_png16(tmp, pixels, exif=exif, xmp=xmp)
            else:
                _write_tiff16(tmp, pixels, xmp=xmp)
        else:
            _write_pil(tmp, pixels, fmt, exif=exif, quality=quality, xmp=xmp)
        if carry and fmt != "BMP":
            try:
                notes += write_metadata(tmp, carry, suffix=path.suffix)
            except Exception as exc:  # noqa: BLE001 - exiv2 refusing a block costs the metadata, not the photo
                notes.append(f"XMP/IPTC of the input not copied ({type(exc).__name__}: {exc})")
        elif carry:
            notes.append("XMP/IPTC of the input not copied: BMP cannot carry them")
        if finalize is not None:
            notes += finalize(tmp)
    return notes


def copy_original(source: str | os.PathLike, output: str | os.PathLike, *, quality: int = 95) -> str:
    """Put an input into the output tree as it is (``--color-inputs copy``), atomically: its bytes
    when the output has its format, else its pixels (sRGB, upright) encoded in the output's format.
    Returns the note for the report."""
    source, output = Path(source), Path(output)
    fmt = pil_format_for(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if pil_format_for_suffix(source.suffix) == fmt:
        with atomic_target(output) as tmp, open(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        return "a colour input: copied as it is (--color-inputs copy)"
    notes: list[str] = []
    with Image.open(source) as im:
        exif = _exif_bytes(im, notes)
        im = _apply_orientation(im, notes)
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        pixels = np.asarray(_to_srgb_if_tagged(im, notes))
    write_image(output, pixels, exif=exif, quality=quality)
    return f"a colour input: copied, re-encoded as {fmt} (--color-inputs copy)"


def _write_pil(
    tmp: Path, pixels: np.ndarray, fmt: str, *, exif: bytes | None, quality: int, xmp: bytes | None = None
) -> None:
    im = Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if pixels.shape[-1] == 4 else "RGB")
    kwargs: dict = {"icc_profile": srgb_icc_bytes()}
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    if xmp and fmt in ("JPEG", "WEBP"):
        kwargs["xmp"] = xmp
    elif xmp and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        kwargs["pnginfo"] = info
    elif xmp and fmt == "TIFF":  # one IFD holds both: the EXIF tags and the XMP packet
        tags = Image.Exif()
        if exif:
            tags.load(exif)
        tags[_TIFF_XMP_TAG] = xmp
        kwargs["exif"] = tags
    if fmt == "JPEG":
        kwargs.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=False)
    elif fmt == "WEBP":
        kwargs.update(quality=quality, method=4)
    elif fmt == "PNG":
        kwargs.update(compress_level=6)
    elif fmt == "TIFF":
        kwargs.update(compression="tiff_deflate")
    elif fmt == "BMP":
        kwargs.pop("icc_profile")
    with open(tmp, "wb") as fh:
        im.save(fh, format=fmt, **kwargs)
        fh.flush()
        os.fsync(fh.fileno())


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


_TIFF_XMP_TAG = 700  # XMLPacket


def _png_itxt(keyword: str, text: bytes) -> bytes:
    """An uncompressed iTXt chunk's data: keyword, no compression, no language or translation."""
    return keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text


def _write_png16(tmp: Path, pixels: np.ndarray, *, exif: bytes | None, xmp: bytes | None = None) -> None:
    """A 16-bit RGB/RGBA PNG (Pillow cannot write these), streamed row block by row block."""
    h, w, c = pixels.shape
    color_type = 6 if c == 4 else 2
    with open(tmp, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)))
        fh.write(_png_chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(srgb_icc_bytes())))
        if exif:
            fh.write(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
        if xmp:
            fh.write(_png_chunk(b"iTXt", _png_itxt("XML:com.adobe.xmp", xmp)))
        comp = zlib.compressobj(6)
        rows = max(1, BLOCK_PIXELS // max(w, 1))
        for r0 in range(0, h, rows):
            blk = pixels[r0 : r0 + rows].astype(">u2", copy=False).reshape(-1, w * c * 2 // 2)
            raw = np.zeros((blk.shape[0], w * c * 2 + 1), dtype=np.uint8)
            raw[:, 1:] = blk.view(np.uint8).reshape(blk.shape[0], -1)  # filter byte 0 per row
            data = comp.compress(raw.tobytes())
            if data:
                fh.write(_png_chunk(b"IDAT", data))
        fh.write(_png_chunk(b"IDAT", comp.flush()))
        fh.write(_png_chunk(b"IEND", b""))
        fh.flush()
        os.fsync(fh.fileno())


def _write_tiff16(tmp: Path, pixels: np.ndarray, *, xmp: bytes | None = None) -> None:
    """A 16-bit RGB/RGBA TIFF with Deflate strips (about 1 MB each) and an sRGB ICC tag (tifffile)."""
    import tifffile

    h, w, c = pixels.shape
    with open(tmp, "wb") as fh:
        tifffile.imwrite(
            fh, pixels, photometric="rgb", planarconfig="contig", extrasamples=("unassalpha",) if c == 4 else None,
            compression="zlib", compressionargs={"level": 6}, iccprofile=srgb_icc_bytes(),
            rowsperstrip=max(1, min(h, (1 << 20) // max(w * c * 2, 1))), metadata=None, software=False,
            extratags=[(_TIFF_XMP_TAG, "B", len(xmp), xmp, True)] if xmp else (),
        )
        fh.flush()
        os.fsync(fh.fileno())

"""Signed Content Credentials (C2PA) for each output, with the c2pa-python bindings (extra ``[c2pa]``).

The manifest says what was done (``c2pa.opened`` on the black-and-white original, then
``c2pa.edited`` with IPTC's ``compositeWithTrainedAlgorithmicMedia`` and the model), by which tool,
and from which ingredient (the source file, with its SHA-256); it is signed with the archive's
certificate and key, so any C2PA reader can check that neither the pixels nor the claim changed.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from colorize_cli.errors import UsageError
from colorize_cli.provenance import DIGITAL_SOURCE_TYPE, Provenance

C2PA_HINT = "--c2pa-sign needs the c2pa-python bindings: pip install 'colorize-cli[c2pa]'"
MIME_FOR_SUFFIX = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff",
                   ".tiff": "image/tiff", ".webp": "image/webp"}


class ContentCredentials:
    """Signs outputs with ``cert`` (a PEM chain, signer first) and ``key`` (its PEM private key)."""

    def __init__(self, cert: str | os.PathLike, key: str | os.PathLike, provenance: Provenance, *, alg: str = "es256") -> None:
        try:
            import c2pa
        except ImportError:
            raise UsageError(C2PA_HINT) from None
        try:
            info = c2pa.C2paSignerInfo(alg.encode(), Path(cert).read_bytes(), Path(key).read_bytes(), None)
            self._signer = c2pa.Signer.from_info(info)
        except OSError as exc:
            raise UsageError(f"--c2pa-sign: cannot read {exc.filename}: {exc.strerror}") from None
        except Exception as exc:  # noqa: BLE001 - c2pa's own error for a bad key or chain
            raise UsageError(f"--c2pa-sign: the certificate and key cannot sign ({exc})") from None
        self._c2pa = c2pa
        self.provenance = provenance
        self._lock = threading.Lock()  # one signature at a time: the bindings do not say they are thread-safe

    def manifest(self, title: str, source_sha256: str) -> dict:
        tool, _, version = self.provenance.tool.partition(" ")
        return {
            "claim_generator_info": [{"name": tool, "version": version}],
            "title": title,
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.opened", "parameters": {"ingredientIds": ["original"]}},
                {"action": "c2pa.edited", "softwareAgent": {"name": tool, "version": version},
                 "digitalSourceType": DIGITAL_SOURCE_TYPE,
                 "description": self.provenance.parameters(),
                 "parameters": {"model": self.provenance.model, "model_sha256": self.provenance.model_sha256,
                                "inference_size": self.provenance.inference_size,
                                "saturation": self.provenance.saturation, "ingredient_sha256": source_sha256}},
            ]}}],
        }

    def sign(self, path: Path, *, title: str, source: Path, source_sha256: str) -> list[str]:
        """Embed a signed manifest into the file at ``path`` (an output being written); notes."""
        mime = MIME_FOR_SUFFIX.get(Path(title).suffix.lower())
        if mime is None:
            return [f"no Content Credentials: {Path(title).suffix} files cannot carry a C2PA manifest"]
        src_mime = MIME_FOR_SUFFIX.get(source.suffix.lower())
        if src_mime is None:
            return [f"no Content Credentials: the original ({source.suffix}) cannot be a C2PA ingredient"]
        signed = path.with_name(path.name + ".c2pa")
        try:
            with self._lock:
                builder = self._c2pa.Builder(json.dumps(self.manifest(title, source_sha256)))
                with open(source, "rb") as ingredient:
                    builder.add_ingredient(json.dumps({"title": source.name, "relationship": "parentOf",
                                                       "label": "original"}), src_mime, ingredient)
                with open(path, "rb") as unsigned, open(signed, "wb") as out:
                    builder.sign(self._signer, mime, unsigned, out)
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(signed, path)
        finally:
            signed.unlink(missing_ok=True)
        return []

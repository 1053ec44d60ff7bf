"""What a colorized copy says about itself: an XMP packet in every output.

Archive software, photo platforms and search engines read IPTC's digital source type to tell a
camera original from synthetic or composited media; a colorized photo is the original's
luminance composited with a trained model's colours, which IPTC names
``compositeWithTrainedAlgorithmicMedia``. The packet also names the tool (``xmp:CreatorTool``)
and holds one ``xmpMM:History`` event with the model file, the SHA-256 of its weights, the
inference size and the saturation: enough to reproduce the colours. It carries no date, so a
rerun writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"

_PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmp:CreatorTool={tool_attr}
    Iptc4xmpExt:DigitalSourceType={source_type}>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource">
      <stEvt:action>edited</stEvt:action>
      <stEvt:softwareAgent>{tool}</stEvt:softwareAgent>
      <stEvt:parameters>{parameters}</stEvt:parameters>
     </rdf:li>
    </rdf:Seq>
   </xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""



# XML text and attribute escaping (what xml.sax.saxutils does; importing it pulls in urllib, http
# and ssl: ~15 ms of every run's start).
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _escape(text: str) -> str:
    return text.translate(_TEXT)


def _quoteattr(text: str) -> str:
    return f'"{text.translate(_ATTR)}"'


@dataclass(frozen=True)
class Provenance:
    """How a run made its colours; :meth:`xmp` is the packet every output of the run carries."""

    tool: str  # "colorize-cli 0.1.0"
    model: str  # the model file's name
    model_sha256: str
    inference_size: int
    saturation: float

    def parameters(self) -> str:
        """The history event's text: what was done, with what."""
        return (
            f"colorized from the black-and-white original's luminance: model {self.model} "
            f"(weights SHA-256 {self.model_sha256}), inference size {self.inference_size}, "
            f"saturation {self.saturation:g}; the colours are the model's estimate, not a record"
        )

    def xmp(self) -> bytes:
        """The XMP packet, UTF-8."""
        return _PACKET.format(
            tool_attr=_quoteattr(self.tool), source_type=_quoteattr(DIGITAL_SOURCE_TYPE),
            tool=_escape(self.tool), parameters=_escape(self.parameters()),
        ).encode("utf-8")

"""Hardened reading of uploaded BPMN files.

lxml with its defaults resolves external entities: a test upload put the machine's hostname into a
process's documentation. We refuse any DOCTYPE outright (BPMN never needs one), and parse with entity
resolution, DTD loading and network access off, so XXE and billion-laughs files never expand.
"""

from __future__ import annotations

import re

from lxml import etree

from engine.errors import Problem, ValidationFailed

MAX_BYTES = 5 * 1024 * 1024
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
NSMAP = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS, "bpmndi": BPMNDI_NS}
IMPLICIT = "{urn:delaktig}implicit"  # marks elements the compiler added to the parsed copy (no DI)

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_bpmn_xml(data: bytes, filename: str = "diagram.bpmn", max_bytes: int = MAX_BYTES) -> etree._Element:
    """Return the root element of a BPMN file or raise ValidationFailed naming the file."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError("BPMN content must be bytes")
    if len(data) > max_bytes:
        raise ValidationFailed(
            [Problem(filename, f"the file is {len(data)} bytes; the limit is {max_bytes} bytes")]
        )
    if _DOCTYPE.search(data):
        raise ValidationFailed(
            [
                Problem(
                    filename, "DOCTYPE and ENTITY declarations are not allowed in BPMN files (XXE protection)"
                )
            ]
        )
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as err:
        raise ValidationFailed([Problem(filename, f"not well-formed XML: {err}")]) from None
    if root.getroottree().docinfo.doctype:
        raise ValidationFailed([Problem(filename, "DOCTYPE declarations are not allowed in BPMN files")])
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise ValidationFailed(
            [Problem(filename, "the root element must be bpmn:definitions (BPMN 2.0 model namespace)")]
        )
    return root

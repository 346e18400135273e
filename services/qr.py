"""The one place that draws QR codes (segno)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import segno

# segno's default of one pixel per module is too small for a phone to read from a screen.
PNG_SCALE = 6
SVG_SCALE = 6
QUIET_ZONE = 4  # modules, the minimum ISO/IEC 18004 asks for


@dataclass(frozen=True)
class QrImages:
    svg: str
    png_data_uri: str


def _render(text: str) -> QrImages:
    qr = segno.make(text, error="m", micro=False)
    svg = io.BytesIO()
    # An explicit white background: a transparent one is unreadable on a dark page.
    qr.save(svg, kind="svg", scale=SVG_SCALE, border=QUIET_ZONE, light="#fff", xmldecl=False)
    return QrImages(
        svg=svg.getvalue().decode("utf-8"),
        png_data_uri=qr.png_data_uri(scale=PNG_SCALE, border=QUIET_ZONE, light="#fff"),
    )


async def render_qr(text: str) -> QrImages:
    # Encoding takes milliseconds of CPU: keep it off the event loop.
    return await asyncio.to_thread(_render, text)

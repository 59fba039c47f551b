"""Colours that follow the system palette and pass WCAG AA on light and dark themes.

Every coloured banner and every state shown in a colour takes its colours
from here, by tone, so that a dark desktop theme never gets dark-red text on
a dark background:

- `banner_colors(tone)`: the text and background of a verdict banner. The
  pairs are fixed and pass 4.5:1 by themselves, whatever the palette.
- `tone_color(tone, palette)`: a tone's colour for text drawn on the palette's
  base (lists, tables), the light or the dark variant by the base's lightness.
- `banner_style(tone, name)`: the style sheet of a QLabel with that object name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtGui import QColor, QPalette

AA = 4.5  # WCAG 2 level AA for normal text


class Tone(StrEnum):
    SAFE = "safe"  # green: safe to use
    WARNING = "warning"  # amber: usable after a step the user confirms; could not inspect
    REFUSED = "refused"  # red: unsafe, a failed job, a checksum mismatch
    NEUTRAL = "neutral"  # grey: pending, pasted text, not a disk image


@dataclass(frozen=True)
class ToneColors:
    banner_text: str
    banner_background: str
    on_light: str  # text on a light base
    on_dark: str  # text on a dark base


TONES = {
    Tone.SAFE: ToneColors("#ffffff", "#166534", "#15803d", "#4ade80"),
    Tone.WARNING: ToneColors("#1c1917", "#fbbf24", "#92400e", "#fbbf24"),
    Tone.REFUSED: ToneColors("#ffffff", "#b91c1c", "#b91c1c", "#fca5a5"),
    Tone.NEUTRAL: ToneColors("#ffffff", "#4b5563", "#4b5563", "#d1d5db"),
}


def luminance(color: QColor) -> float:
    """WCAG 2 relative luminance."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.redF()) + 0.7152 * linear(color.greenF()) + 0.0722 * linear(color.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_dark(palette: QPalette) -> bool:
    return luminance(palette.color(QPalette.ColorRole.Base)) < 0.2


def banner_colors(tone: Tone) -> tuple[QColor, QColor]:
    """(text, background) of a banner of this tone."""
    colors = TONES[tone]
    return QColor(colors.banner_text), QColor(colors.banner_background)


def banner_style(tone: Tone, object_name: str) -> str:
    text, background = banner_colors(tone)
    return (
        f"QLabel#{object_name} {{ color: {text.name()}; background: {background.name()};"
        " border-radius: 6px; }"
    )


def tone_color(tone: Tone, palette: QPalette) -> QColor:
    """The tone's colour for text on the palette's base colour."""
    colors = TONES[tone]
    return QColor(colors.on_dark if is_dark(palette) else colors.on_light)


def fusion_dark_palette() -> QPalette:
    """A dark palette for the Fusion style (screenshots, tests; a desktop brings its own)."""
    window, base, text = QColor("#2d2d2d"), QColor("#1e1e1e"), QColor("#e6e6e6")
    palette = QPalette(window)
    R = QPalette.ColorRole
    for role, color in (
        (R.Window, window), (R.WindowText, text), (R.Base, base), (R.AlternateBase, QColor("#2a2a2a")),
        (R.Text, text), (R.Button, QColor("#353535")), (R.ButtonText, text),
        (R.ToolTipBase, QColor("#3a3a3a")), (R.ToolTipText, text), (R.PlaceholderText, QColor("#9a9a9a")),
        (R.Highlight, QColor("#2f65ca")), (R.HighlightedText, QColor("#ffffff")),
        (R.Link, QColor("#7ab7ff")), (R.BrightText, QColor("#ff6b6b")), (R.Mid, QColor("#5a5a5a")),
    ):  # fmt: skip
        palette.setColor(role, color)
    disabled = QColor("#808080")
    for role in (R.WindowText, R.Text, R.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette

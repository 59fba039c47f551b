"""The Overview tab: the verdict banner and the image's main facts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from ...core.appliance.appliance import ApplianceReport
from ...core.fetch.sums import SumsCheck, SumsEntry
from ...core.formats import ImageFormat
from ...core.inspect.verdict import Violation
from ...core.packed.probe import PackedFacts
from ...core.qemu.image_info import ImageInfo
from ...core.report.details import ImageDetails
from ...core.sizes import exact_size, human_size
from ..models.image_list import EntryState, ImageEntry
from ..palette import Tone, banner_style
from ..plain_text import PlainLabel
from ..settings import Settings
from .appliance_view import ApplianceView

FIELDS = (
    "Format", "Virtual size", "Size on disk", "Cluster size", "qcow2 compat", "Compression",
    "Lazy refcounts", "Encryption", "Dirty", "Corrupt", "Bitmaps", "Path", "Link to", "Packed as",
)  # fmt: skip
KEYRING_HINT = f"Settings: {Settings.keyring.label}"  # where the window takes the keyring gpgv checks with


class VerdictBanner(QLabel):
    """Green "Safe to use"; grey "Not a disk image"; amber for an overlay on the user's own
    sound chain (a conversion flattens it); red "Refused" with each reason and what to do."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setMargin(10)
        self.setObjectName("verdict")
        self.verdict = ""

    def show_entry(self, entry: ImageEntry) -> None:
        from html import escape

        if entry.state == EntryState.PENDING:
            self._set("pending", Tone.NEUTRAL, "<b>Inspecting…</b>")
        elif entry.state == EntryState.FAILED:
            self._set("failed", Tone.WARNING, f"<b>Could not inspect</b><br>{escape(entry.error)}")
        elif entry.state == EntryState.PASTED:
            self._set(
                "pasted", Tone.NEUTRAL,
                "<b>Pasted text</b><br>No verdict: there is no file for our inspector to read.",
            )  # fmt: skip
        elif entry.appliance is not None:
            self._appliance(entry.appliance)
        elif entry.details is not None:
            self._verdict(entry.verdict, entry.details)

    def _appliance(self, report: ApplianceReport) -> None:
        from html import escape

        if report.safe:
            self._set("safe", Tone.SAFE, f"<b>Safe to use</b><br>Every disk of this appliance passed our "
                      f"inspector and qemu-img, read in place inside the {report.kind.upper()}.")  # fmt: skip
            return
        items = "".join(
            f"<li>Disk {d.index}: {escape(d.report.violations[0].message)}<br><i>What to do:</i> "
            f"{escape(d.report.violations[0].advice)}</li>"
            for d in report.disks
            if d.report is not None and not d.report.safe
        )
        self._set("refused", Tone.REFUSED, f"<b>Refused</b><ul>{items}</ul>")

    def _verdict(self, verdict: str, details: ImageDetails) -> None:
        from html import escape

        violations = details.report.violations
        packed = details.report.packed
        if verdict == "safe" and packed is not None:
            self._set(
                "safe", Tone.SAFE,
                f"<b>Safe by its headers</b><br>Our inspector read the first "
                f"{escape(human_size(packed.inflated))} of this {packed.packing.value} file's "
                "image: no references to other files, nothing implausible. qemu-img checks it "
                "too once Image &gt; Convert has decompressed it.",
            )  # fmt: skip
        elif verdict == "safe":
            self._set(
                "safe", Tone.SAFE,
                "<b>Safe to use</b><br>Our inspector and qemu-img agree: "
                "no references to other files, nothing implausible.",
            )  # fmt: skip
        elif verdict == "not_a_disk":
            first = violations[0]
            self._set("not_a_disk", Tone.NEUTRAL, f"<b>Not a disk image</b><br>{escape(first.message)}"
                                                f"<br><i>What to do:</i> {escape(first.advice)}")  # fmt: skip
        elif verdict == "owned_chain":
            below = len(details.chain) - 1
            layers = "one file" if below == 1 else f"{below} files"
            self._set(
                "owned_chain", Tone.WARNING,
                f"<b>Overlay on your own backing chain</b><br>This image reads {layers} below it, "
                "all inside this folder, and every layer passes the safety gate. To use it on "
                "its own, flatten it into one image with Image &gt; Convert.",
            )  # fmt: skip
        else:
            items = "".join(
                f"<li>{escape(v.message)}<br><i>What to do:</i> {escape(v.advice)}</li>" for v in violations
            )
            self._set("refused", Tone.REFUSED, f"<b>Refused</b><ul>{items}</ul>")

    def _set(self, verdict: str, tone: Tone, html: str) -> None:
        self.verdict = verdict
        self.setText(html)
        self.setStyleSheet(banner_style(tone, "verdict"))


class OverviewPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.banner = VerdictBanner()
        self.notes = PlainLabel()  # partition-table warnings; their text quotes the image
        self.notes.setObjectName("notes")
        self.notes.setWordWrap(True)
        self.notes.setMargin(8)
        self.notes.setStyleSheet(banner_style(Tone.WARNING, "notes"))
        self.checksum = PlainLabel()  # names the checksum file, which anyone may have named
        self.checksum.setObjectName("checksum")
        self.checksum.setWordWrap(True)
        self.checksum.setMargin(8)
        self.values: dict[str, QLabel] = {}
        self.form = form = QFormLayout()
        for name in FIELDS:
            label = PlainLabel()  # paths and names come from the image: never HTML
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.values[name] = label
            form.addRow(f"{name}:", label)
        self.facts = QWidget()
        self.facts.setLayout(form)
        self.appliance = ApplianceView()
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.notes)
        layout.addWidget(self.checksum)
        layout.addWidget(self.facts)
        layout.addWidget(self.appliance, 1)
        layout.addStretch()

    def show_entry(self, entry: ImageEntry) -> None:
        self.banner.show_entry(entry)
        self.facts.setVisible(entry.appliance is None)
        self.appliance.setVisible(entry.appliance is not None)
        if entry.appliance is not None:
            self.appliance.show_appliance(entry.appliance)
        details = entry.details
        self._show_notes(details.report.warnings if details else ())
        self._show_checksum(details.sums if details else None, entry.checksum)
        if details and details.sums_problem:
            self._refuse_checksum(details.sums_problem)
        info = entry.info  # a pasted `qemu-img info` has no report, only qemu-img's facts
        ours = details.report.inspection if details else None
        facts = details.report.facts if details else None
        fmt = entry.format_text
        if ours and ours.subformat and ours.format != ImageFormat.QCOW2:
            fmt += f" ({ours.subformat})"
        no_disk = entry.verdict == "not_a_disk"  # its "raw" and "size" would describe a disk
        self._set("Format", "not a disk image" if no_disk else (fmt or "—"))
        self._size("Virtual size", None if no_disk else entry.virtual_size)
        packed = details.report.packed if details else None
        on_disk = packed.compressed_size if packed else facts.size_on_disk if facts else None
        self._size("Size on disk", on_disk if details else (info.actual_size if info else None))
        self._set("Packed as", _packed_text(packed) if packed else "")
        self.form.setRowVisible(self.values["Packed as"], packed is not None)
        self._size("Cluster size", facts.cluster_size if facts else (info.cluster_size if info else None))
        if info is None and ours is not None and ours.format == ImageFormat.QCOW2:
            self._qcow2_from_header(dict(ours.details))
        else:
            self._qcow2(info)
        encrypted = facts.encrypted if facts else bool(info and info.encrypted)
        self._set("Encryption", _encryption(info) if encrypted else "none")
        self._set("Dirty", "yes: not cleanly shut down" if info and info.dirty else "no")
        self._set("Path", entry.key if entry.state != EntryState.PASTED else "(pasted text)")
        target = details.report.resolved if details else None
        self._set("Link to", str(target) if target else "")
        self.form.setRowVisible(self.values["Link to"], target is not None)

    def _show_notes(self, warnings: tuple[Violation, ...]) -> None:
        """What a careful admin should know that does not make the image unsafe (the
        partition table), as the CLI prints it."""
        self.notes.setText("\n".join(f"Note: {w.message} {w.advice}" for w in warnings))
        self.notes.setVisible(bool(warnings))

    def _show_checksum(self, sums: SumsEntry | None, check: SumsCheck | None) -> None:
        """What a SHA256SUMS (or NAME.sha256) beside the image says: checking, a match, or a
        red mismatch; nothing when no such file lists the image."""
        self.checksum.setProperty("matches", None if check is None else check.matches)
        if sums is None:
            self.checksum.hide()
            return
        if check is None:
            self.checksum.setText(f"Checksum: checking the {sums.algorithm} against {sums.sums_file.name}…")
            style = banner_style(Tone.NEUTRAL, "checksum")
        elif check.matches:
            self.checksum.setText(f"Checksum: {check.sentence(KEYRING_HINT)}.")
            style = banner_style(Tone.SAFE, "checksum")
        else:
            self.checksum.setText(f"Checksum mismatch: {check.sentence()}. The file is not the one "
                                  "the list was made for: download or copy it again.")  # fmt: skip
            style = banner_style(Tone.REFUSED, "checksum")
        self.checksum.setStyleSheet(style)
        self.checksum.show()

    def _refuse_checksum(self, problem: str) -> None:
        self.checksum.setProperty("matches", False)
        self.checksum.setText(f"Checksum file refused: {problem}")
        self.checksum.setStyleSheet(banner_style(Tone.REFUSED, "checksum"))
        self.checksum.show()

    def _qcow2(self, info: ImageInfo | None) -> None:
        q = info.qcow2 if info else None
        self._set("qcow2 compat", q.compat if q else "—")
        self._set("Compression", (q.compression_type or "zlib") if q else "—")
        self._set("Lazy refcounts", _yes_no(q.lazy_refcounts) if q else "—")
        self._set("Corrupt", _yes_no(q.corrupt) if q else "—")
        self._set("Bitmaps", ", ".join(b.name for b in q.bitmaps) or "none" if q else "—")

    def _qcow2_from_header(self, header: dict[str, object]) -> None:
        """Our inspector's reading, when qemu-img did not open a refused image."""
        self._set("qcow2 compat", str(header.get("compat", "—")))
        self._set("Compression", str(header.get("compression_type", "—")))
        self._set("Lazy refcounts", _yes_no(_bool(header.get("lazy_refcounts"))))
        self._set("Corrupt", _yes_no(_bool(header.get("corrupt"))))
        self._set("Bitmaps", "present" if header.get("bitmaps_extension") else "none")

    def _set(self, name: str, text: str) -> None:
        self.values[name].setText(text)
        self.values[name].setToolTip("")

    def _size(self, name: str, n: int | None) -> None:
        self.values[name].setText("—" if n is None else human_size(n))
        self.values[name].setToolTip("" if n is None else exact_size(n))

    def field(self, name: str) -> str:
        return self.values[name].text()


def _packed_text(packed: PackedFacts) -> str:
    size = packed.uncompressed_size
    inflates = f"{human_size(size)} uncompressed" if size is not None else "uncompressed size not recorded"
    return f"{packed.packing.value}, {inflates}"


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _encryption(info: ImageInfo | None) -> str:
    if info and info.luks:
        return f"LUKS ({info.luks.cipher_alg} {info.luks.cipher_mode})"
    if info and info.qcow2 and info.qcow2.encrypt:
        return f"qcow2 {info.qcow2.encrypt.get('format', 'encryption')}"
    return "yes"

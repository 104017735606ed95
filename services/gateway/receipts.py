"""A receipt as a PDF: what the wallet knows of a purchase or a refund, and the buyer's
e-mail address, which only the gateway knows (it owns users). Pure: bytes in memory.

Drawn with fpdf2 in its built-in Helvetica, so the service needs no font files. Those
fonts hold Windows-1252's characters; any other character (a rare e-mail address or a
pack's name) is shown as "?" rather than failing the download.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from contracts.wallet import PurchaseOnReceipt, Receipt, RefundOnReceipt

ISSUER = "livevote"
_ENCODING = "windows-1252"

# Currencies Stripe counts in whole units, and in thousandths (its "zero-decimal" and
# "three-decimal" currencies); every other in hundredths.
_ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"}
    | {"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

_INK = (33, 37, 41)
_MUTED = (108, 117, 125)
_RULE = (206, 212, 218)
_LABEL_WIDTH = 42.0


def money(cents: int | None, currency: str | None) -> str:
    """An amount in a currency's smallest unit as people write it: ``EUR 5.00``."""
    if cents is None or currency is None:
        return "not recorded"
    code = currency.lower()
    digits = 0 if code in _ZERO_DECIMAL else 3 if code in _THREE_DECIMAL else 2
    return f"{code.upper()} {cents / 10**digits:,.{digits}f}"


def when(moment: datetime) -> str:
    """``6 December 2026, 04:21 UTC``."""
    in_utc = moment.astimezone(UTC)
    return f"{in_utc.day} {in_utc:%B %Y, %H:%M} UTC"


def credits(count: int) -> str:
    return f"{count} credit" if count == 1 else f"{count} credits"


def _shown(text: str) -> str:
    return text.encode(_ENCODING, "replace").decode(_ENCODING)


class _Sheet:
    """One A4 page of labelled lines, in sections."""

    def __init__(self, title: str) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.core_fonts_encoding = _ENCODING
        self.pdf.set_margins(20, 20, 20)
        self.pdf.set_auto_page_break(auto=True, margin=20)
        self.pdf.set_title(_shown(title))
        self.pdf.set_author(ISSUER)
        self.pdf.set_creator(ISSUER)
        self.pdf.add_page()

    def heading(self, issuer: str, title: str) -> None:
        pdf = self.pdf
        pdf.set_text_color(*_INK)
        pdf.set_font("Helvetica", "B", 24)
        pdf.cell(pdf.epw / 2, 12, issuer)
        pdf.set_font("Helvetica", "", 16)
        pdf.cell(pdf.epw / 2, 12, _shown(title), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.rule(4)

    def section(self, title: str) -> None:
        pdf = self.pdf
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 12)
        pdf.set_text_color(*_INK)
        pdf.cell(0, 8, _shown(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def line(self, label: str, value: str, *, strong: bool = False, size: float = 10) -> None:
        pdf = self.pdf
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(*_MUTED)
        pdf.cell(_LABEL_WIDTH, 7, _shown(label))
        pdf.set_font("Helvetica", "B" if strong else "", size)
        pdf.set_text_color(*_INK)
        text = _shown(value)
        if pdf.get_string_width(text) <= pdf.epw - _LABEL_WIDTH:
            pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            # Rare (a long e-mail address), and fpdf2's line breaking is slow: only here.
            pdf.multi_cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def reference(self, label: str, value: str) -> None:
        """A Stripe id: long, one word, and better read whole on one line."""
        self.line(label, value, size=9)

    def note(self, *lines: str) -> None:
        pdf = self.pdf
        pdf.ln(6)
        pdf.set_font("Helvetica", "", 9)
        pdf.set_text_color(*_MUTED)
        for text in lines:
            pdf.cell(0, 5, _shown(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rule(self, space: float) -> None:
        pdf = self.pdf
        pdf.ln(space)
        pdf.set_draw_color(*_RULE)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
        pdf.ln(space)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _purchase(sheet: _Sheet, purchase: PurchaseOnReceipt, *, refunded: bool) -> None:
    sheet.section("Purchase refunded" if refunded else "Purchase")
    sheet.line("Credit pack", purchase.pack_name)
    sheet.line("Credits added", credits(purchase.credits))
    sheet.line("Amount paid", money(purchase.charged_cents, purchase.currency), strong=True)
    if refunded:
        sheet.line("Purchased on", when(purchase.purchased_at))
        sheet.line("Purchase receipt", purchase.receipt_id)
    sheet.line("Paid with", "Stripe Checkout")
    if purchase.payment_intent is not None:
        sheet.reference("Stripe payment", purchase.payment_intent)
    sheet.reference("Checkout Session", purchase.session_id)


def _refund(sheet: _Sheet, refund: RefundOnReceipt) -> None:
    sheet.section("Refund")
    sheet.line("Amount refunded", money(refund.refunded_cents, refund.currency), strong=True)
    sheet.line("Credits taken back", credits(refund.credits_taken_back))
    sheet.reference("Stripe refund", refund.refund_id)


def receipt_pdf(receipt: Receipt, email: str) -> bytes:
    """The receipt as a one-page PDF."""
    is_refund = receipt.refund is not None
    title = "Refund receipt" if is_refund else "Receipt"
    sheet = _Sheet(f"{ISSUER} {title.lower()} {receipt.receipt_id}")
    sheet.heading(ISSUER, title)
    sheet.line("Receipt number", receipt.receipt_id, strong=True)
    sheet.line("Date", when(receipt.issued_at))
    sheet.line("Billed to", email)
    _purchase(sheet, receipt.purchase, refunded=is_refund)
    if receipt.refund is not None:
        _refund(sheet, receipt.refund)
    sheet.note(
        f"Credits pay for votes in {ISSUER}'s paid votings, one credit a vote.",
        f"Stripe took the payment (and made any refund) for {ISSUER}; "
        "the Stripe references above find them in Stripe's records.",
    )
    return sheet.output()

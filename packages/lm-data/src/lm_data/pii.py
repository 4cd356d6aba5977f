"""PII scrubbing: datatrove's `PIIFormatter` (e-mail and public IP addresses replaced)."""

from __future__ import annotations

from datatrove.pipeline.formatters import PIIFormatter

from lm_data.config import PIIConfig


def pii_formatter(cfg: PIIConfig) -> PIIFormatter:
    """Replaces e-mails with example.com addresses and public IPs with reserved ones."""
    return PIIFormatter(remove_emails=cfg.emails, remove_ips=cfg.ips, only_remove_public_ips=True)

"""Markdown and self-contained HTML reports, and the plots they embed."""

from aptrank.report.render import write_report

__all__ = ["write_report"]

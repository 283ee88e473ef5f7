"""Presentation of results: printed tables (``tables``) and the HTML report (``html``).

Example:
    >>> from ipdmeta.report import write_report
    >>> callable(write_report)
    True
"""

from ipdmeta.report.html import (
    ReportSection,
    package_versions,
    render_report,
    result_html,
    write_report,
)

__all__ = ["ReportSection", "package_versions", "render_report", "result_html", "write_report"]

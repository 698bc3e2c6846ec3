"""The review page of a filter run: one self-contained HTML file to check, override and export its decisions."""

from forgetfilter.review.page import write_review

__all__ = ["write_review"]

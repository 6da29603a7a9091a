"""PDF work: merging attachments into one document (response PDFs and signing to come)."""

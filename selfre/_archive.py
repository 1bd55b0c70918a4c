"""Filled in by `git archive` (export-subst in .gitattributes); a git checkout keeps the placeholder."""

COMMIT = "$Format:%H$"

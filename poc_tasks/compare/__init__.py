"""Phase 1 of the migration: shadow comparisons of poc_tasks' rows with the rows Koku's Trino SQL wrote.

rows.py compares (pure), report.py renders JSON and HTML, store.py reads the live rows read-only and keeps the
verdicts, shadow.py runs a comparison end to end. Import shadow_compare_ocp from poc_tasks.compare.shadow.
"""

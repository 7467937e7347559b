"""Cloud daily summaries without Trino: Koku's populate_line_item_daily_summary_table_trino of AWS, Azure and GCP
and the EC2 compute summary, run through the shared steps of daily/run.py (prepare -> chunks -> writes ->
finalize). See docs/trino-call-sites.md for what each replaces."""

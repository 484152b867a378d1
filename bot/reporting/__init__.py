"""Reporting above the store: the KPI report a person may see, its summary and chart, and the audit CSV export.

The KPI arithmetic stays pure in `bot/engine/kpis.py`, the read-only SQL in `bot/store/reporting.py`, and the
Slack side (`/workflow report|export`, weekly posts) in `bot/slack/report_desk.py`.
"""

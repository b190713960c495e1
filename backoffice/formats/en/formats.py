# Short dates as ISO 8601 (2026-11-30): unambiguous for merchants who read both languages.
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"

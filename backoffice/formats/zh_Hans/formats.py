# Amounts in Chinese statements and apps are grouped by thousands with commas (¥5,999.00), as
# DESIGN.md §2 shows them; Django's zh_Hans has no separator.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3

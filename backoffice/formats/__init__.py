"""Number and date formats that override Django's for the back office's two languages
(``FORMAT_MODULE_PATH``); anything not set here stays Django's."""

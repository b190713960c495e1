"""The merchant back office (DESIGN.md §10): server-rendered pages for merchant staff.

This app holds what every back-office page shares, and nothing of the domain:

- ``tenancy``: the current merchant (chosen per session among the user's memberships) and the
  ``member_view`` decorator that every page goes through: sign-in, membership, the role's
  capability (403 otherwise) and the merchant's time zone;
- ``roles``: what each role of §8 may do, in one table;
- ``throttle`` and ``forms``: sign-in throttling; ``security``: the Content Security Policy;
- ``selectors``: the dashboard's figures; ``views``: the dashboard, the merchant switcher and the
  sign-in pages; ``urls``: the whole map of §10 in one place;
- the layout (``templates/backoffice/``), the static CSS and JS, and template filters for amounts
  and labels.

The pages of each part of the domain live in the app they belong to, as STYLE.md lays out
(``views.py`` + ``forms.py``): campaigns in ``campaigns.views``, plans and statements in
``installments.views``, stores, members and API keys in ``merchants.views``. They call the same
services and selectors as the API, so the back office and the API cannot disagree.
"""

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save

from merchants.recent_keys import recent_keys_forget


class MerchantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "merchants"
    verbose_name = "Merchants"

    def ready(self) -> None:
        from merchants.models import ApiKey, Merchant

        # Quotes may reuse this process's lookup of a key and its merchant from the last moment
        # (merchants/recent_keys.py): a merchant or key saved here (the admin, the back office)
        # reaches them at once. The services that write with UPDATE forget explicitly.
        for model in (Merchant, ApiKey):
            for signal in (post_save, post_delete):
                signal.connect(
                    _forget_recent_keys, sender=model, dispatch_uid=f"recent-keys-{model.__name__}"
                )


def _forget_recent_keys(**_: object) -> None:
    recent_keys_forget()

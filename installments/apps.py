from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class InstallmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "installments"
    verbose_name = "Installments"

    def ready(self) -> None:
        from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings
        from installments.selectors import recent_pricing_forget

        # Quotes may reuse a read of these from the last moment (installments/selectors.py):
        # a change saved in this process reaches them at once.
        for model in (FeeTable, FeeRate, MerchantFeeOverride, PlatformSettings):
            post_save.connect(recent_pricing_forget, sender=model, dispatch_uid=f"recent-{model}")
            post_delete.connect(recent_pricing_forget, sender=model, dispatch_uid=f"recent-{model}")

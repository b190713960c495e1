from django.apps import AppConfig


class InstallmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "installments"
    verbose_name = "Installments"

"""The operators' groups of DESIGN.md §8, each with exactly the permissions its job needs.

- ``reviewer``: reviews campaigns (approve, reject, budget raises) and reads the merchants behind them.
- ``finance``: owns pricing (fee tables, negotiated rates, platform settings) and settlement (starts
  and re-runs runs, reads statements, plans and the ledger, runs ``reconcile``, sees the periodic
  jobs and can switch them on and off).
- ``admin``: runs the platform: onboards and freezes merchants, manages their stores and members,
  operators' accounts and every periodic job, and holds what the other two hold.

Nobody, superusers included, can add, change or delete a ledger entry, posting or account, or a
plan, its schedule, lines or refunds: the admin refuses it whatever the permissions, and no group
holds those permissions. Re-running this migration's function resets the groups to exactly this."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_MERCHANTS = [
    "merchants.view_merchant",
    "merchants.view_store",
    "merchants.view_merchantstatusevent",
]
VIEW_CAMPAIGNS = [
    "campaigns.view_campaign",
    "campaigns.view_offer",
    "campaigns.view_campaignevent",
]
# "change" on a campaign is the right to review it: every field is read-only in the admin.
REVIEW_CAMPAIGNS = ["campaigns.change_campaign"]
PRICING = [
    f"installments.{action}_{model}"
    for model in ("feetable", "feerate", "merchantfeeoverride", "platformsettings")
    for action in ("add", "change", "delete", "view")
]
SETTLEMENT = [
    "installments.add_settlementrun",
    "installments.view_settlementrun",
    "installments.view_settlementbatch",
    "installments.view_statement",
    "installments.view_statementline",
]
BOOKS = [
    "installments.view_plan",
    "installments.view_planinstallment",
    "installments.view_planline",
    "installments.view_refund",
    "installments.view_ledgeraccount",
    "installments.view_ledgerentry",
    "installments.view_ledgerposting",
]
PERIODIC_VIEW = [
    "django_celery_beat.view_periodictask",
    "django_celery_beat.change_periodictask",
    "django_celery_beat.view_crontabschedule",
    "django_celery_beat.view_intervalschedule",
    "django_celery_beat.view_solarschedule",
    "django_celery_beat.view_clockedschedule",
]
PERIODIC_ALL = [
    f"django_celery_beat.{action}_{model}"
    for model in (
        "periodictask",
        "crontabschedule",
        "intervalschedule",
        "solarschedule",
        "clockedschedule",
    )
    for action in ("add", "change", "delete", "view")
]
MERCHANT_ADMIN = [
    "merchants.add_merchant",
    "merchants.change_merchant",
    "merchants.add_store",
    "merchants.change_store",
    "merchants.view_membership",
    "merchants.add_membership",
    "merchants.change_membership",
    "merchants.delete_membership",
    "merchants.view_apikey",
]
OPERATOR_ACCOUNTS = ["auth.view_user", "auth.add_user", "auth.change_user", "auth.view_group"]

OPERATOR_GROUPS = {
    "reviewer": VIEW_MERCHANTS + VIEW_CAMPAIGNS + REVIEW_CAMPAIGNS,
    "finance": VIEW_MERCHANTS + VIEW_CAMPAIGNS + PRICING + SETTLEMENT + BOOKS + PERIODIC_VIEW,
    "admin": (
        VIEW_MERCHANTS
        + VIEW_CAMPAIGNS
        + REVIEW_CAMPAIGNS
        + PRICING
        + SETTLEMENT
        + BOOKS
        + PERIODIC_ALL
        + MERCHANT_ADMIN
        + OPERATOR_ACCOUNTS
    ),
}


def operator_groups_create(apps, schema_editor):
    """Create (or reset) the three groups with exactly their permissions."""
    # Permissions are made by post_migrate, after every migration; make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in OPERATOR_GROUPS.items():
        permissions = []
        for dotted in sorted(set(wanted)):
            app_label, codename = dotted.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


def operator_groups_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(OPERATOR_GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0002_merchant_status_events"),
        ("campaigns", "0005_definition_version_backfill"),
        ("installments", "0008_admin_list_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(operator_groups_create, operator_groups_delete)]

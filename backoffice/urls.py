"""The back office's map (DESIGN.md §10), in one place. Pages are in the ``bo`` namespace; the
sign-in pages keep Django's own names (``login``, ``password_reset_confirm`` …), which Django's
auth views reverse."""

from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from backoffice import views
from campaigns import views as campaigns
from installments import views as installments
from merchants import views as merchants

pages = [
    path("", views.dashboard, name="dashboard"),
    path("merchant/switch/", views.merchant_switch, name="merchant_switch"),
    # Campaigns: the studio.
    path("campaigns/", campaigns.campaign_list_page, name="campaign_list"),
    path("campaigns/new/", campaigns.campaign_create_page, name="campaign_create"),
    path("campaigns/preview/", campaigns.campaign_preview_json, name="campaign_preview"),
    path("campaigns/<uuid:campaign_id>/", campaigns.campaign_detail_page, name="campaign_detail"),
    path("campaigns/<uuid:campaign_id>/edit/", campaigns.campaign_edit_page, name="campaign_edit"),
    path(
        "campaigns/<uuid:campaign_id>/<slug:action>/",
        campaigns.campaign_action,
        name="campaign_action",
    ),
    path("plans/", installments.plan_list_page, name="plan_list"),
    path("plans/export/", installments.plan_export, name="plan_export"),
    path("plans/<uuid:plan_id>/", installments.plan_detail_page, name="plan_detail"),
    path("plans/<uuid:plan_id>/refund/", installments.plan_refund_page, name="plan_refund"),
    path("settlements/", installments.statement_list_page, name="statement_list"),
    path(
        "settlements/<uuid:statement_id>/",
        installments.statement_detail_page,
        name="statement_detail",
    ),
    path("settlements/<uuid:statement_id>/csv/", installments.statement_csv, name="statement_csv"),
    path("stores/", merchants.store_list_page, name="store_list"),
    path("stores/new/", merchants.store_create_page, name="store_create"),
    path("stores/<int:store_id>/", merchants.store_edit_page, name="store_edit"),
    path(
        "stores/<int:store_id>/deactivate/",
        merchants.store_set_active,
        {"active": False},
        name="store_deactivate",
    ),
    path(
        "stores/<int:store_id>/activate/",
        merchants.store_set_active,
        {"active": True},
        name="store_activate",
    ),
    path("members/", merchants.member_list_page, name="member_list"),
    path("members/invite/", merchants.member_invite_page, name="member_invite"),
    path("members/<int:membership_id>/role/", merchants.member_role_page, name="member_role"),
    path("members/<int:membership_id>/remove/", merchants.member_remove_page, name="member_remove"),
    path("api-keys/", merchants.api_key_list_page, name="api_key_list"),
    path("api-keys/new/", merchants.api_key_create_page, name="api_key_create"),
    path("api-keys/<int:key_id>/rotate/", merchants.api_key_rotate_page, name="api_key_rotate"),
    path("api-keys/<int:key_id>/revoke/", merchants.api_key_revoke_page, name="api_key_revoke"),
]

accounts = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html"
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("", include((pages, "bo"))),
    path("accounts/", include(accounts)),
    path("i18n/", include("django.conf.urls.i18n")),
]

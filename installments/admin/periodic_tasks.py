"""The beat's schedule (django-celery-beat's periodic tasks) in the operators' console.

``finance`` sees the periodic tasks and switches them on or off; what a task runs (its task name,
arguments, schedule, queue…) is changed only by the ``admin`` group or a superuser. django-celery-
beat's own admin lets whoever holds ``change_periodictask`` edit every field, which would let
finance point the nightly settlement at any task with any arguments, so this one replaces it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

# Who may change every field of a periodic task (the others only switch tasks on or off).
SCHEDULE_EDITORS_GROUP = "admin"


def can_edit_schedules(request: HttpRequest) -> bool:
    user = request.user
    if user.is_superuser:
        return True
    if not hasattr(request, "_can_edit_schedules"):
        request._can_edit_schedules = user.groups.filter(name=SCHEDULE_EDITORS_GROUP).exists()  # type: ignore[attr-defined]
    return request._can_edit_schedules  # type: ignore[attr-defined]


class PeriodicTaskSwitchForm(forms.ModelForm):
    """The form of those who only switch a task on or off."""

    class Meta:
        model = PeriodicTask
        fields = ["enabled"]


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    def get_fieldsets(self, request: HttpRequest, obj: PeriodicTask | None = None):  # type: ignore[no-untyped-def]
        fieldsets = super().get_fieldsets(request, obj)
        if can_edit_schedules(request):
            return fieldsets
        # "regtask" is a form-only field (a choice of registered tasks): "task" shows the value.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "regtask"]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: PeriodicTask | None = None):  # type: ignore[no-untyped-def]
        readonly = list(super().get_readonly_fields(request, obj))
        if can_edit_schedules(request):
            return readonly
        every = flatten_fieldsets(self.get_fieldsets(request, obj))
        return readonly + [f for f in every if f != "enabled" and f not in readonly]

    def get_form(self, request: HttpRequest, obj: PeriodicTask | None = None, **kwargs):  # type: ignore[no-untyped-def]
        if not can_edit_schedules(request):
            # The stock form requires a task name, which is read-only here.
            kwargs["form"] = PeriodicTaskSwitchForm
        return super().get_form(request, obj, **kwargs)

    def get_actions(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        actions = super().get_actions(request)
        if not can_edit_schedules(request):
            actions.pop("run_tasks", None)  # running a task now is not switching it on or off
        return actions

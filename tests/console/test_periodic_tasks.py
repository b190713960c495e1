"""Periodic tasks: ``finance`` switches them on or off and changes nothing else (not what a task
runs, its arguments or schedule); ``admin`` and superusers edit every field."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

pytestmark = pytest.mark.django_db


def change_url(task: PeriodicTask) -> str:
    return f"/admin/django_celery_beat/periodictask/{task.pk}/change/"


def posted(page, **overrides) -> dict:
    """What the change page posts back: its form's initial values, with ``overrides``."""
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            value = ""
        value = getattr(value, "pk", value)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = value
    for name, value in overrides.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def rewrite(task: PeriodicTask, page) -> dict:
    return posted(
        page,
        name="renamed",
        task="campaigns.end_due",
        regtask="campaigns.end_due",
        kwargs='{"x": 1}',
        enabled=False,
    )


def test_finance_only_switches_a_periodic_task_on_or_off(world, client_for):
    client = client_for("finance")
    task = PeriodicTask.objects.get(name="settlement-nightly")
    page = client.get(change_url(task))
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {"enabled"}
    assert b'name="kwargs"' not in page.content and b'name="task"' not in page.content

    response = client.post(change_url(task), rewrite(task, page))

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.name, task.task, task.kwargs) == (
        "settlement-nightly",
        "installments.settle_yesterday",
        "{}",
    )
    assert task.enabled is False  # the switch itself works

    client.post(change_url(task), {"enabled": "on"})
    task.refresh_from_db()
    assert task.enabled is True


def test_finance_cannot_run_a_task_from_the_list(world, client_for):
    page = client_for("finance").get("/admin/django_celery_beat/periodictask/")
    assert b'value="run_tasks"' not in page.content
    assert b'value="disable_tasks"' in page.content


@pytest.mark.parametrize("group", ["admin", None])
def test_admins_and_superusers_edit_every_field(group, world, client_for):
    client = client_for(group)
    task = PeriodicTask.objects.get(name="settlement-nightly")
    page = client.get(change_url(task))
    assert {"task", "kwargs", "regtask"} <= set(page.context["adminform"].form.fields)

    response = client.post(change_url(task), rewrite(task, page))

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.name, task.task, task.kwargs, task.enabled) == (
        "renamed",
        "campaigns.end_due",
        '{"x": 1}',
        False,
    )
    listing = client.get("/admin/django_celery_beat/periodictask/")
    assert b'value="run_tasks"' in listing.content

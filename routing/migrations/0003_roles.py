"""Create the role groups (viewer, operator, admin). Permissions follow the role
names (routing.roles), so the groups carry no Django model permissions."""

from django.db import migrations

ROLES = ("viewer", "operator", "admin")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("routing", "0002_experiments_snapshots_provider_options"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]

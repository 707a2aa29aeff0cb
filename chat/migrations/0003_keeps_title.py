from django.db import migrations, models


def keep_prediction_titles(apps, schema_editor):
    """Conversations started from a prediction keep their title from now on, as new ones ("About <file>") do."""
    Conversation = apps.get_model("chat", "Conversation")
    Conversation.objects.filter(prediction__isnull=False).update(keeps_title=True)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_translatable_labels"),
    ]

    operations = [
        migrations.RenameField(model_name="conversation", old_name="title_set_by_user", new_name="keeps_title"),
        migrations.AlterField(
            model_name="conversation",
            name="keeps_title",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "The title was given by “Ask about this prediction” or by the owner; only a conversation without "
                    "one is named after its first message."
                ),
                verbose_name="keeps its title",
            ),
        ),
        migrations.RunPython(keep_prediction_titles, migrations.RunPython.noop),
    ]

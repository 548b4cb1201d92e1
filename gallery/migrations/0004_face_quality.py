"""Face quality: a quality bar per domain, a quality record and a searchable flag per face.

Existing rows keep their answers: faces stored before have no quality record and stay searchable,
and domains that existed get a bar of 0 (every check off; the fields are added with default 0 and
only then given the defaults new domains get). An admin raises a domain's bar when it wants one.
"""

from django.db import migrations, models


def _bar_field(kind, default, help_text):
    return kind(default=default, help_text=help_text)


SIZE_HELP = "Pixels, the face box's shorter side; 0: no check"
SHARPNESS_HELP = "Variance of the Laplacian of the face at 128 px; 0: no check"
YAW_HELP = "Degrees the head may turn from frontal (from landmarks); 0: no check"


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0003_one_domain_per_chain"),
    ]

    operations = [
        # default 0 for the domains that exist now: their answers do not change
        migrations.AddField("domain", "min_face_size", _bar_field(models.PositiveIntegerField, 0, SIZE_HELP)),
        migrations.AddField("domain", "min_sharpness", _bar_field(models.FloatField, 0.0, SHARPNESS_HELP)),
        migrations.AddField("domain", "max_yaw", _bar_field(models.FloatField, 0.0, YAW_HELP)),
        # the measured defaults (faces.quality) for domains created from now on
        migrations.AlterField("domain", "min_face_size", _bar_field(models.PositiveIntegerField, 32, SIZE_HELP)),
        migrations.AlterField("domain", "min_sharpness", _bar_field(models.FloatField, 10.0, SHARPNESS_HELP)),
        migrations.AlterField("domain", "max_yaw", _bar_field(models.FloatField, 60.0, YAW_HELP)),
        migrations.AddField("faceembedding", "quality", models.JSONField(blank=True, null=True)),
        migrations.AddField(
            "faceembedding",
            "searchable",
            models.BooleanField(default=True, db_default=True, help_text="False: below the domain's quality bar, never returned"),
        ),
    ]

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Blob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sha256", models.CharField(max_length=64, null=True, unique=True)),
                ("size", models.BigIntegerField(default=0)),
                ("chunks_count", models.IntegerField(default=0)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name="BlobChunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("index", models.IntegerField()),
                ("sha256", models.CharField(max_length=64)),
                ("data", models.BinaryField()),
                ("blob", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="chunks", to="filestore.blob")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("blob", "index"), name="filestore_chunk_blob_index")],
            },
        ),
        migrations.CreateModel(
            name="BlobName",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("namespace", models.CharField(max_length=32)),
                ("name", models.CharField(max_length=255)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("blob", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="names", to="filestore.blob")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("namespace", "name"), name="filestore_name_unique")],
            },
        ),
    ]

"""Keep each domain's partial HNSW index in step with the domain, whichever door wrote it
(a service, the admin, a fixture)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gallery import indexes
from gallery.models import Domain


@receiver(post_save, sender=Domain)
def domain_saved(sender, instance: Domain, **kwargs) -> None:
    from gallery.services import domain_index_ensure

    domain_index_ensure(domain_id=instance.id, model_name=instance.model_name, alignment=instance.alignment)


@receiver(post_delete, sender=Domain)
def domain_deleted(sender, instance: Domain, **kwargs) -> None:
    indexes.vector_indexes_drop(domain_id=instance.id)

"""Admin curation: domains, persons (with their photos and face boxes), photos, API keys and tasks.

Nothing here can link two domains: a person's domain is fixed once created, a photo's person,
domain and picture and a face's everything are read-only, and the ways to change them are actions
that call services (move photos to a person of their domain, merge, re-embed), which the database's
constraints back up. Every delete (change page, bulk action, the person page's photo inline) goes
through the services that also erase the photo files.
"""

from gallery.admin import audit, clusters, domains, keys, persons, photos, tasks  # noqa: F401 - each registers its ModelAdmins

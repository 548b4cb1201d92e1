"""Face photos are biometric data: only a staff session with the gallery's photo permission
(``gallery.view_facephoto``, which superusers have) can fetch them."""

import pytest

from tests.conftest import add_photos, face_bytes


@pytest.fixture
def photo_url(alpha):
    return add_photos(alpha, "Angelina", "img1.jpg").photos.get().image.url


def test_anonymous_user_cannot_fetch_a_face_photo(client, photo_url):
    response = client.get(photo_url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_api_key_is_not_enough_to_fetch_a_face_photo(alice, photo_url):
    assert alice.client.get(photo_url).status_code == 302


def _staff_client(client, *codenames: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    user = get_user_model().objects.create_user("stan", password="x", is_staff=True)
    if codenames:
        group = Group.objects.create(name="photo viewers")
        group.permissions.set(Permission.objects.filter(content_type__app_label="gallery", codename__in=codenames))
        user.groups.add(group)
    client.force_login(user)
    return client


def test_staff_flag_alone_is_not_enough_to_fetch_a_face_photo(client, photo_url):
    # The admin refuses such a user every gallery page; the photos behind them too.
    response = _staff_client(client, "view_person", "view_domain").get(photo_url)
    assert response.status_code == 403


def test_staff_user_with_the_photo_view_permission_gets_the_photo(client, photo_url):
    response = _staff_client(client, "view_facephoto").get(photo_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == face_bytes("img1.jpg")


def test_staff_user_without_the_permission_gets_403_even_for_a_missing_file(client, alpha):
    # No probing which files exist: the permission is checked before the path.
    assert _staff_client(client).get("/media/alpha/ab/abcdef.jpg").status_code == 403


def test_superuser_gets_the_photo(admin_client, photo_url):
    response = admin_client.get(photo_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == face_bytes("img1.jpg")
    assert response["Cache-Control"].startswith("private")


def test_behind_nginx_the_file_is_sent_by_x_accel_redirect(admin_client, photo_url, settings):
    settings.MEDIA_X_ACCEL_REDIRECT = "/protected-media/"
    response = admin_client.get(photo_url)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == "/protected-media/" + photo_url.removeprefix("/media/")


@pytest.mark.parametrize("path", ["/media/../secret_key", "/media/%2e%2e/secret_key", "/media//etc/passwd"])
def test_paths_outside_the_media_root_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404

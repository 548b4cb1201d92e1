"""The admin's clusters page in a real headless Chromium, against a live server, the real model and
database: a staff user sees clusters of unknown people largest first with face thumbnails, takes a
face out, names clusters (new person, existing person) and dismisses one."""

from __future__ import annotations

import pytest

from tests.conftest import face_bytes, labels
from tests.recognition.test_web_page import _follow, _grant, _log_in, _wait, browser  # noqa: F401 (fixture)

PASSWORD = "correct horse battery staple"


def _photos_of(identity: str) -> list[str]:
    return sorted(name for name, person in labels().items() if person == identity)


@pytest.fixture
def archive(transactional_db):
    from gallery import services

    domain = services.domain_create(slug="archive", name="Archive")
    for name in _photos_of("id01")[:3] + _photos_of("id02")[:3]:
        services.photo_add(person=None, domain=domain, data=face_bytes(name), source_name=name)
    services.clusters_update(domain=domain)
    return domain


@pytest.fixture
def curator(transactional_db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("olga", "olga@example.com", PASSWORD, is_staff=True)
    _grant(user, "view_facecluster", "change_facecluster", "view_facephoto", "view_person")
    return user


def _rows(driver) -> list[dict]:
    from selenium.webdriver.common.by import By

    rows = []
    for row in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"):
        rows.append({
            "id": int(row.find_element(By.CSS_SELECTOR, "input.action-select").get_attribute("value")),
            "size": int(row.find_element(By.CSS_SELECTOR, "td.field-size").text),
            "thumbnails": len(row.find_elements(By.CSS_SELECTOR, ".face-thumb")),
        })
    return rows


def _act(driver, live_server, action: str, cluster_ids: list[int]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(live_server.url + "/admin/gallery/facecluster/")
    for pk in cluster_ids:
        driver.find_element(By.CSS_SELECTOR, f"input.action-select[value='{pk}']").click()
    Select(driver.find_element(By.NAME, "action")).select_by_value(action)
    _follow(driver, driver.find_element(By.CSS_SELECTOR, "button[name=index]"))


def _messages(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, "ul.messagelist li")]


def test_curator_names_takes_out_and_dismisses_clusters(browser, live_server, curator, archive, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from gallery.models import FaceCluster, FaceEmbedding, Person

    _log_in(browser, live_server, then="/admin/gallery/facecluster/")
    rows = _rows(browser)
    assert [row["size"] for row in rows] == [3, 3]
    assert [row["thumbnails"] for row in rows] == [3, 3]
    thumb = browser.find_element(By.CSS_SELECTOR, ".face-thumb").get_attribute("style")
    assert "/media/faces/" in thumb

    first = FaceEmbedding.objects.filter(photo__source_name=_photos_of("id01")[0]).get().cluster_id
    second = next(row["id"] for row in rows if row["id"] != first)
    # Take one face out of the first person's cluster, on the cluster's page.
    browser.get(f"{live_server.url}/admin/gallery/facecluster/{first}/change/")
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "a.remove-face"))
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form input[type=submit]"))
    _wait(browser, lambda d: "/admin/gallery/facecluster/" in d.current_url and _messages(d))
    assert "on its own" in _messages(browser)[0]
    sizes = {row["id"]: row["size"] for row in _rows(browser)}
    assert sorted(sizes.values()) == [1, 2, 3]
    alone = next(pk for pk, size in sizes.items() if size == 1)

    # Name the rest of the cluster as a new person.
    _act(browser, live_server, "assign", [first])
    browser.find_element(By.ID, "id_name").send_keys("Ada")
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Name]"))
    _wait(browser, lambda d: _messages(d))
    assert "2 face(s) of cluster" in _messages(browser)[0] and "joined Ada" in _messages(browser)[0]
    ada = Person.objects.get(domain=archive, name="Ada")

    # The face taken out is Ada too after all: give it to the existing person.
    _act(browser, live_server, "assign", [alone])
    Select(browser.find_element(By.ID, "id_person")).select_by_visible_text(f"Ada (id {ada.pk})")
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Name]"))
    _wait(browser, lambda d: _messages(d))
    assert "joined Ada" in _messages(browser)[0]

    # The other cluster is dismissed: the list is empty and it is never suggested again.
    _act(browser, live_server, "dismiss", [second])
    _wait(browser, lambda d: _messages(d))
    assert [row["size"] for row in _rows(browser)] == []
    browser.save_screenshot(str(tmp_path / "admin-clusters.png"))

    assert FaceEmbedding.objects.filter(person=ada).count() == 3
    assert FaceCluster.objects.get(pk=second).dismissed
    assert not FaceEmbedding.objects.filter(person__isnull=False, cluster__isnull=False).exists()

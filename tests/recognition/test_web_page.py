"""The web page at / in a real headless Chromium against a live server, the real model and database.

Debian's ``chromium`` and ``chromium-driver`` are installed by the session fixture when missing
(as root, with apt-get), so ``make test`` on a fresh machine runs this too; where they cannot be
installed the tests are skipped with the reason.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import FACES, add_photos

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery staple"


def _ensure_chromium() -> str | None:
    """Install Debian's chromium + chromium-driver when missing; the reason it cannot, or None."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "chromium/chromium-driver are missing and cannot be installed here (not root, or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}"
    return None if CHROMIUM.exists() and CHROMEDRIVER.exists() else "apt-get ran but chromium is still missing"


@pytest.fixture(scope="session")
def browser():
    problem = _ensure_chromium()
    if problem:
        pytest.skip(problem)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _grant(user, *codenames: str) -> None:
    """What the README tells an operator to do: a group with the gallery's view permissions."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="recognizers")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="gallery", codename__in=codenames))
    user.groups.add(group)


@pytest.fixture
def operator(transactional_db):
    """A staff user in a group with the page's permission (``gallery.view_person``)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("olga", "olga@example.com", PASSWORD, is_staff=True)
    _grant(user, "view_person")
    return user


@pytest.fixture
def gallery(transactional_db):
    from gallery.services import domain_create

    domain = domain_create(slug="stars", name="Stars")
    add_photos(domain, "Angelina Jolie", "img1.jpg", "img2.jpg", "img5.jpg")
    add_photos(domain, "Scarlett Johansson", "img9.jpg", "img47.jpg", "img48.jpg")
    return domain


def _wait(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _follow(driver, element) -> None:
    """Click a link or submit button and wait until the browser has left the page: a click returns
    before the next page loads, and a look-up made meanwhile reads the old page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    _wait(driver, staleness_of(page))
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def _log_in(driver, live_server, username: str = "olga", then: str = "/") -> None:
    from selenium.webdriver.common.by import By

    driver.get(live_server.url + then)
    assert "/admin/login/" in driver.current_url  # anonymous: sent to the login page
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(driver, lambda d: d.current_url.rstrip("/") == (live_server.url + then).rstrip("/"))


def _side_by_side(tmp_path: Path, *names: str) -> Path:
    """A group photo made of real photos, to see several faces boxed and named at once."""
    images = [Image.open(FACES / name).convert("RGB") for name in names]
    height = max(image.height for image in images)
    canvas = Image.new("RGB", (sum(image.width for image in images), height), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width
    path = tmp_path / "group.jpg"
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return path


def _recognize(driver, photo: Path):
    from selenium.webdriver.common.by import By

    status = driver.find_element(By.ID, "recognize-status")
    driver.execute_script("delete arguments[0].dataset.done", status)
    driver.find_element(By.ID, "recognize-image").send_keys(str(photo))
    driver.find_element(By.ID, "recognize-submit").click()
    _wait(driver, lambda d: status.get_attribute("data-done") == "true")
    return status.text


def _faces_drawn(driver) -> list[dict]:
    """The boxes drawn on the photo in table order, each with its number and its label."""
    from selenium.webdriver.common.by import By

    labels = {e.get_attribute("data-number"): e for e in driver.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-label")}
    drawn = []
    for box in driver.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-box"):
        number = box.find_element(By.CLASS_NAME, "face-number").text
        drawn.append({"number": number, "box": box.rect, "label": labels[number].text, "label_rect": labels[number].rect})
    return drawn


def _name(label: str) -> str:
    """The name in a label: "2. Angelina Jolie (91%)" -> "Angelina Jolie"."""
    return label.split(". ", 1)[1].split(" (")[0]


def _table(driver) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#recognize-faces tbody tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def _overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_operator_sees_boxes_and_names_drawn_on_the_photo(browser, live_server, operator, gallery, tmp_path):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)
    assert [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#domain option")] == ["Stars (stars)"]

    status = _recognize(browser, FACES / "img4.jpg")  # Angelina Jolie, a photo not in the gallery

    assert status == "1 face(s), 1 recognized in stars."
    [face] = _faces_drawn(browser)
    assert face["number"] == "1"
    assert face["label"].startswith("1. Angelina Jolie (") and face["label"].endswith("%)")
    # The box is drawn over the face: inside the displayed photo, and a plausible face size.
    img = browser.find_element(By.ID, "recognize-img").rect
    box = face["box"]
    assert img["x"] <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 1
    assert img["y"] <= box["y"] and box["y"] + box["height"] <= img["y"] + img["height"] + 1
    assert 0.1 < box["width"] / img["width"] < 0.8
    browser.save_screenshot(str(tmp_path / "recognize-one.png"))

    group = _side_by_side(tmp_path, "img4.jpg", "img17.jpg", "img50.jpg")  # Angelina, a stranger, Scarlett
    status = _recognize(browser, group)

    assert status == "3 face(s), 2 recognized in stars."
    drawn = _faces_drawn(browser)
    assert sorted(_name(face["label"]) for face in drawn) == ["Angelina Jolie", "Scarlett Johansson", "unknown"]
    # Left to right on the photo: Angelina, the stranger, Scarlett.
    by_x = [_name(face["label"]) for face in sorted(drawn, key=lambda face: face["box"]["x"])]
    assert by_x == ["Angelina Jolie", "unknown", "Scarlett Johansson"]
    assert len(_table(browser)) == 3
    shots = Path(os.environ.get("FACEREC_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "web-recognize-group.png"))


GROUP_NAMES = ["Alexandra Konstantinopoulou", "Bartholomew Featherstonehaugh", "Christiane Oberhollenzer",
               "Dmitri Vasilyevich Sokolov"]


@pytest.fixture
def group_gallery(gallery):
    """Every face of a group photo as a person with a long name (a crop of the photo), so that all
    of them are named and the names compete for room on the photo."""
    from gallery.services import person_get_or_create, photo_add
    from recognition.services import detect_faces

    data = (FACES / "selfie-many-people.jpg").read_bytes()
    _, faces = detect_faces(data, model_name=gallery.model_name, detector=gallery.detector)
    assert len(faces) == len(GROUP_NAMES)
    photo = Image.open(io.BytesIO(data)).convert("RGB")
    for name, face in zip(GROUP_NAMES, faces, strict=True):
        x, y, w, h = (face.box[key] for key in ("x", "y", "w", "h"))
        crop = photo.crop((max(0, x - w // 2), max(0, y - h // 2), x + w + w // 2, y + h + h // 2))
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=95)
        person, _ = person_get_or_create(domain=gallery, name=name)
        assert photo_add(person=person, data=buffer.getvalue(), source_name=f"{name}.jpg").photo.faces.count() == 1
    return gallery


def test_group_photo_boxes_are_numbered_like_the_table_and_labels_do_not_overlap(
    browser, live_server, operator, group_gallery
):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)
    status = _recognize(browser, FACES / "selfie-many-people.jpg")

    assert status == "4 face(s), 4 recognized in stars."
    drawn = _faces_drawn(browser)
    table = _table(browser)
    # Box n carries the number n, its label starts with "n. " and names the person of row n.
    assert [face["number"] for face in drawn] == [row[0] for row in table] == ["1", "2", "3", "4"]
    for face, row in zip(drawn, table, strict=True):
        assert face["label"].startswith(face["number"] + ". ")
        assert _name(face["label"]) == row[1]
    assert sorted(row[1] for row in table) == GROUP_NAMES
    # No label covers another, and every label lies on the photo.
    img = browser.find_element(By.ID, "recognize-img").rect
    for i, face in enumerate(drawn):
        rect = face["label_rect"]
        assert img["x"] <= rect["x"] and rect["x"] + rect["width"] <= img["x"] + img["width"] + 1, face
        assert img["y"] <= rect["y"] and rect["y"] + rect["height"] <= img["y"] + img["height"] + 1, face
        for other in drawn[i + 1:]:
            assert not _overlap(rect, other["label_rect"]), (face, other)


def test_no_photo_is_shown_before_a_result(browser, live_server, operator, gallery):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)

    assert not browser.find_element(By.ID, "recognize-photo").is_displayed()
    assert not browser.find_element(By.ID, "recognize-img").is_displayed()  # no broken-image placeholder
    assert not browser.find_element(By.ID, "recognize-faces").is_displayed()


def test_an_error_after_a_result_clears_that_result(browser, live_server, operator, gallery, tmp_path):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)
    assert _recognize(browser, FACES / "img4.jpg") == "1 face(s), 1 recognized in stars."
    assert browser.find_element(By.ID, "recognize-photo").is_displayed()
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("this is not a photo")

    assert _recognize(browser, bogus) == "the file is not an image in a supported format"

    # The photo, boxes and table of the previous photo are gone: nothing suggests they belong to it.
    assert not browser.find_element(By.ID, "recognize-photo").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-box") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-label") == []
    assert not browser.find_element(By.ID, "recognize-faces").is_displayed()
    assert _table(browser) == []


def test_domain_choice_is_shared_by_both_forms_and_remembered(browser, live_server, operator, gallery):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from gallery.services import domain_create

    domain_create(slug="crew", name="Crew")  # listed first: the page's default
    _log_in(browser, live_server)
    domain = Select(browser.find_element(By.ID, "domain"))
    assert domain.first_selected_option.get_attribute("value") == "crew"
    domain.select_by_value("stars")

    browser.get(live_server.url + "/")  # a new visit: remembered in this browser
    domain = Select(browser.find_element(By.ID, "domain"))
    assert domain.first_selected_option.get_attribute("value") == "stars"
    assert _recognize(browser, FACES / "img4.jpg") == "1 face(s), 1 recognized in stars."
    result = browser.find_element(By.ID, "compare-result")
    browser.find_element(By.ID, "compare-image1").send_keys(str(FACES / "img1.jpg"))
    browser.find_element(By.ID, "compare-image2").send_keys(str(FACES / "img4.jpg"))
    browser.find_element(By.ID, "compare-submit").click()
    _wait(browser, lambda d: result.get_attribute("data-verified") in ("true", "false", "error"))
    assert result.text.startswith("Same person") and "domain stars" in result.text

    domain.select_by_value("crew")  # one choice for both forms: recognize follows too
    assert _recognize(browser, FACES / "img4.jpg") == "1 face(s), 0 recognized in crew."


def test_page_and_admin_domain_list_fit_a_1280_px_screen(browser, live_server, operator, gallery):
    """Long domain names and slugs, ten columns beside the admin's navigation and filter: nothing
    scrolls sideways at 1280 px."""
    from django.contrib.auth import get_user_model
    from selenium.webdriver.common.by import By

    from gallery.services import domain_create

    domain_create(slug="public_figures_of_the_republic_of_north_macedonia", name="Public figures " * 13)
    domain_create(slug="public-figures-of-a-rather-long-country-name", name="Public figures of a long country name")
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    sideways = """return [document.documentElement, ...document.querySelectorAll('.results, main, section')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.tagName + '.' + e.className);"""
    browser.set_window_size(1280, 1000)
    try:
        _log_in(browser, live_server)
        assert browser.execute_script(sideways) == []
        browser.delete_all_cookies()
        _log_in(browser, live_server, "root", "/admin/gallery/domain/")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 3
        assert browser.execute_script(sideways) == []
    finally:
        browser.set_window_size(1280, 1600)


def test_compare_form_says_same_or_different(browser, live_server, operator, gallery):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)
    result = browser.find_element(By.ID, "compare-result")

    def compare(first: str, second: str) -> str:
        browser.execute_script("delete arguments[0].dataset.verified", result)
        browser.find_element(By.ID, "compare-image1").send_keys(str(FACES / first))
        browser.find_element(By.ID, "compare-image2").send_keys(str(FACES / second))
        browser.find_element(By.ID, "compare-submit").click()
        _wait(browser, lambda d: result.get_attribute("data-verified") in ("true", "false", "error"))
        return result.text

    assert compare("img1.jpg", "img4.jpg").startswith("Same person (distance ")
    assert result.get_attribute("data-verified") == "true"
    assert compare("img1.jpg", "img17.jpg").startswith("Different persons (distance ")
    assert compare("img1.jpg", "img11.jpg").startswith("Same person")


def test_page_shows_the_api_error_for_a_non_image(browser, live_server, operator, gallery, tmp_path):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("this is not a photo")

    status = _recognize(browser, bogus)

    assert status == "the file is not an image in a supported format"
    assert browser.find_element(By.ID, "recognize-status").get_attribute("class") == "error"
    assert browser.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-box") == []


# --- Without a browser: access rules and CSRF -------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/"


def test_page_endpoints_need_a_staff_session_and_csrf(db, alpha):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.conftest import face_bytes

    user = get_user_model().objects.create_user("nina", password=PASSWORD)  # not staff
    photo = {"domain": "alpha", "image": io.BytesIO(face_bytes("img4.jpg"))}
    assert Client().post("/web/recognize", photo).json()["error"]["code"] == "not_authenticated"

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/").status_code == 302
    response = client.post("/web/recognize", photo)
    assert response.status_code == 403  # CSRF: no token

    user.is_staff = True
    user.save()
    assert client.get("/").status_code == 403  # staff, but without the gallery's view permission
    _grant(user, "view_person")
    page = client.get("/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    photo["image"].seek(0)
    response = client.post("/web/recognize", photo, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert len(response.json()["faces"]) == 1


def test_staff_user_without_the_gallery_view_permission_is_refused_page_and_endpoints(db, alpha):
    """Like the admin, which shows such a user nothing: the staff flag only lets them log in."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.conftest import face_bytes

    user = get_user_model().objects.create_user("stan", password=PASSWORD, is_staff=True)
    _grant(user, "view_domain", "view_facephoto")  # not the page's permission
    client = Client()
    client.force_login(user)

    page = client.get("/")
    assert page.status_code == 403
    assert b"gallery.view_person" in page.content  # says what is missing
    assert b"alpha" not in page.content
    posts = {
        "/web/recognize": {"domain": "alpha", "image": io.BytesIO(face_bytes("img4.jpg"))},
        "/web/compare": {"domain": "alpha", "image1": io.BytesIO(face_bytes("img1.jpg")),
                         "image2": io.BytesIO(face_bytes("img4.jpg"))},
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"
        assert "gallery.view_person" in response.json()["error"]["message"]

    _grant(user, "view_person")
    assert client.get("/").status_code == 200
    for url, data in posts.items():
        for photo in data.values():
            if isinstance(photo, io.BytesIO):
                photo.seek(0)
        assert client.post(url, data).status_code == 200, url


def _page_client(alpha):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user("olga", password=PASSWORD, is_staff=True)
    _grant(user, "view_person")
    client = Client()
    client.force_login(user)
    return client


def test_compare_errors_name_the_photos_as_the_page_does(db, alpha, settings):
    from tests.conftest import face_bytes

    client = _page_client(alpha)

    def compare(first, second) -> tuple[int, str]:
        data = {"domain": "alpha"}
        if first is not None:
            data["image1"] = io.BytesIO(first)
        if second is not None:
            data["image2"] = io.BytesIO(second)
        response = client.post("/web/compare", data)
        return response.status_code, response.json()["error"]["message"]

    face, landscape = face_bytes("img1.jpg"), _blank_jpeg()
    assert compare(face, landscape) == (422, "no face was found in the second photo")
    assert compare(landscape, face) == (422, "no face was found in the first photo")
    assert compare(b"not a photo", face) == (415, "First photo: the file is not an image in a supported format")
    assert compare(face, b"not a photo") == (415, "Second photo: the file is not an image in a supported format")
    assert compare(face, None) == (400, "Second photo: no file chosen")
    settings.MAX_UPLOAD_BYTES = len(face) - 1
    assert compare(face_bytes("img4.jpg")[: len(face) - 1], face) == (
        413, f"Second photo is larger than {len(face) - 1} bytes"
    )


def test_recognize_errors_name_the_photo_as_the_page_does(db, alpha, settings):
    client = _page_client(alpha)

    response = client.post("/web/recognize", {"domain": "alpha"})
    assert (response.status_code, response.json()["error"]["message"]) == (400, "Photo: no file chosen")


def _blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 160, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


# --- The site around the page: admin branding, favicon ------------------------------------------


def test_admin_is_branded_facerec(admin_client):
    html = admin_client.get("/admin/").content.decode()

    assert "Django administration" not in html and "Django site admin" not in html
    assert '<div id="site-name"><a href="/admin/">facerec</a></div>' in html
    assert "<title>Site administration | facerec admin</title>" in html


def test_favicon_is_served_and_linked_from_page_and_admin(admin_client, client):
    response = client.get("/favicon.ico", follow=True)  # browsers ask for it on every site
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    for url in ("/", "/admin/", "/admin/gallery/domain/"):
        html = admin_client.get(url).content.decode()
        assert '<link rel="icon" href="/static/facerec/favicon.svg" type="image/svg+xml">' in html, url
    login = client.get("/admin/login/").content.decode()
    assert 'rel="icon"' in login


def test_swagger_ui_renders_the_api(browser, live_server, transactional_db):
    """/api/docs in the browser: Swagger UI's assets load from this server and list the routes."""
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/api/docs")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 10)
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/v1/recognize", "/api/v1/compare", "/recognize", "/readyz"} <= paths
    assert browser.find_elements(By.CSS_SELECTOR, ".auth-wrapper .authorize")  # the API-key scheme

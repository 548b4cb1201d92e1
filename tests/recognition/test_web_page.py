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


@pytest.fixture
def operator(transactional_db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("olga", "olga@example.com", PASSWORD, is_staff=True)


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


def _log_in(driver, live_server) -> None:
    from selenium.webdriver.common.by import By

    driver.get(live_server.url + "/")
    assert "/admin/login/" in driver.current_url  # anonymous: sent to the login page
    driver.find_element(By.ID, "id_username").send_keys("olga")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(driver, lambda d: d.current_url.rstrip("/") == live_server.url)


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


def test_operator_sees_boxes_and_names_drawn_on_the_photo(browser, live_server, operator, gallery, tmp_path):
    from selenium.webdriver.common.by import By

    _log_in(browser, live_server)
    assert [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#recognize-domain option")] == ["Stars (stars)"]

    status = _recognize(browser, FACES / "img4.jpg")  # Angelina Jolie, a photo not in the gallery

    assert status == "1 face(s), 1 recognized in stars."
    boxes = browser.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-box")
    assert len(boxes) == 1
    label = boxes[0].find_element(By.CLASS_NAME, "face-label").text
    assert label.startswith("Angelina Jolie (") and label.endswith("%)")
    # The box is drawn over the face: inside the displayed photo, and a plausible face size.
    img = browser.find_element(By.ID, "recognize-img").rect
    box = boxes[0].rect
    assert img["x"] <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 1
    assert img["y"] <= box["y"] and box["y"] + box["height"] <= img["y"] + img["height"] + 1
    assert 0.1 < box["width"] / img["width"] < 0.8
    browser.save_screenshot(str(tmp_path / "recognize-one.png"))

    group = _side_by_side(tmp_path, "img4.jpg", "img17.jpg", "img50.jpg")  # Angelina, a stranger, Scarlett
    status = _recognize(browser, group)

    assert status == "3 face(s), 2 recognized in stars."
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-label")]
    names = sorted(label.split(" (")[0] for label in labels)
    assert names == ["Angelina Jolie", "Scarlett Johansson", "unknown"]
    # Left to right on the photo: Angelina, the stranger, Jennifer.
    boxes = browser.find_elements(By.CSS_SELECTOR, "#recognize-photo .face-box")
    by_x = [b.find_element(By.CLASS_NAME, "face-label").text.split(" (")[0] for b in sorted(boxes, key=lambda b: b.rect["x"])]
    assert by_x == ["Angelina Jolie", "unknown", "Scarlett Johansson"]
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#recognize-faces tbody tr")]
    assert len(rows) == 3
    shots = Path(os.environ.get("FACEREC_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "web-recognize-group.png"))


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
    page = client.get("/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    photo["image"].seek(0)
    response = client.post("/web/recognize", photo, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert len(response.json()["faces"]) == 1


def test_swagger_ui_renders_the_api(browser, live_server, transactional_db):
    """/api/docs in the browser: Swagger UI's assets load from this server and list the routes."""
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/api/docs")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 10)
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/v1/recognize", "/api/v1/compare", "/recognize", "/readyz"} <= paths
    assert browser.find_elements(By.CSS_SELECTOR, ".auth-wrapper .authorize")  # the API-key scheme

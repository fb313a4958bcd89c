"""End to end in a real browser: the app served on localhost, headless Chromium asks a
question about an ingested file, waits for the streamed answer and checks its source
card; every page is opened and photographed.  Screenshots are kept as test artifacts
in test-artifacts/ (RAG_TEST_ARTIFACTS), for a person to look at."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from rag_core.db import Chunk, Document
from rag_core.db.models import Role
from rag_core.services import Services
from tests.browsing import (
    CHROMEDRIVER,
    CHROMIUM,
    app_is_healthy,
    free_port,
    start_app,
    start_chromium,
)
from tests.conftest import MODELS_DIR, REPO
from tests.helpers import CONTRACT_PAGES, FILING_PAGES, FILING_RATIO_QUESTION, make_pdf

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("RAG_TEST_ARTIFACTS", REPO / "test-artifacts"))
PAGES = [
    ("documents", "Documents"),
    ("history", "History"),
    ("insights", "Insights"),
    ("users", "Users"),
    ("audit", "Audit"),
    ("quality", "Quality"),
    ("settings", "Settings"),
]
WAIT = 180  # seconds: the first question also loads the models
ACCOUNT = ("manager", "front desk passphrase")


def sign_in(browser: WebDriver, url: str) -> WebDriverWait[WebDriver]:
    wait = WebDriverWait(browser, WAIT)
    browser.get(url)
    name = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[type="text"]')))
    shoot(browser, "sign-in")
    name.send_keys(ACCOUNT[0])
    password = browser.find_element(By.CSS_SELECTOR, 'input[type="password"]')
    password.send_keys(ACCOUNT[1])
    password.send_keys(Keys.ENTER)
    return wait


def open_page(browser: WebDriver, wait: WebDriverWait[WebDriver], path: str) -> None:
    """Through the navigation: typing a new URL would start a new, signed-out session."""
    selector = f'a[data-testid="stSidebarNavLink"][href$="/{path}"]'
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, selector))).click()


@pytest.fixture
def served(services: Services, database_url: str, tmp_path: Path) -> Iterator[str]:
    """The app on a free localhost port, its library holding a contract and a filing."""
    drop = services.settings.drop_dir
    make_pdf(drop / "contracts" / "contract.pdf", CONTRACT_PAGES)
    make_pdf(drop / "filings" / "acme-10k.pdf", FILING_PAGES)
    list(services.ingestor.ingest_paths([drop]))
    services.accounts.add(*ACCOUNT, Role.ADMIN, by=None)
    quality_checked(services)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAG_DROP_DIR": str(drop),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_MODELS_DIR": str(MODELS_DIR),
        "RAG_LLM_TEMPERATURE": "0",
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "streamlit.log").open("w")
    # Run from tmp_path, away from .streamlit/config.toml: its usage-statistics line, here.
    server = start_app(
        REPO / "app.py",
        port,
        "--browser.gatherUsageStats=false",
        cwd=tmp_path,
        env=env,
        log=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if app_is_healthy(url):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the app did not start:\n" + (tmp_path / "streamlit.log").read_text()
                )
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def quality_checked(services: Services) -> None:
    """Two checks of a few cases, one failing, and a low-rated answer to fix: what the
    Quality page shows."""
    from rag_core.answers.chat import AnswerMode
    from rag_core.eval import site
    from rag_core.quality.generation import Generated
    from rag_core.quality.questions import passage

    with services.db.session() as session:
        chunks = session.execute(
            sa.select(Chunk.id, Chunk.page_start)
            .join(Document)
            .where(Document.title == "contract.pdf")
        ).all()
    pages = {page: passage(services.db, chunk) for chunk, page in chunks}
    services.cases.add_generated(
        [
            Generated("How much warning ends the Globex agreement?", "ninety days", pages[2]),
            Generated("What does Acme pay Globex each month?", "12,500 euros", pages[3]),
            Generated("How long do secrets stay secret after it ends?", "five years", pages[4]),
        ],
        [
            ("Can either party end the Whitfield lease?", Generated("q", "a", pages[2])),
            # Marked as one the library cannot answer, wrongly: it fails.
            ("Can either party end the agreement early?", Generated("q", "a", pages[2])),
        ],
        0,
    )
    low = services.chat.ask(
        "Who pays the invoices?", user="manager", mode=AnswerMode.EXTRACTIVE
    ).complete()
    services.history.rate(low.query_id or 0, 1)
    services.history.comment(low.query_id or 0, "It should say Acme pays monthly")
    for _ in range(2):
        services.runs.queue("check", "manager", {"mode": "extractive"})
        site.work(services, quiet_seconds=0)


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    assert not missing, f"{missing} missing: `make test` installs chromium and chromium-driver"
    driver = start_chromium()
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shoot(driver, f"failed-{request.node.name}")  # what the page showed
    driver.quit()


def shoot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def test_question_in_the_browser_gets_a_cited_answer(served: str, browser: WebDriver) -> None:
    wait = sign_in(browser, served)
    box = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    )
    box.send_keys("What is the notice period for termination?")
    box.send_keys(Keys.ENTER)

    # The streamed answer is drawn again with its source cards when it ends.
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[role="tab"]')))
    messages = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')
    assert len(messages) == 2
    answer = messages[1].text
    assert "ninety" in answer.lower() or "90" in answer
    assert "Sources (" in answer
    first_tab = browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')[0]
    assert first_tab.text.startswith("[1] contract.pdf")
    card = messages[1].find_element(By.XPATH, './/*[text()="[1] contract.pdf, page 2"]')
    assert "Relevance" in answer
    assert "Whole page 2" in answer
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    time.sleep(0.5)
    shot = shoot(browser, "chat-answer")
    assert shot.stat().st_size > 10_000

    # The page itself, the evidence marked on it.
    toggle = messages[1].find_element(By.XPATH, './/*[text()="Show the page"]')
    toggle.click()
    image = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stImage"] img'))
    )
    wait.until(lambda _: image.get_attribute("naturalWidth") not in (None, "0"))
    caption = browser.find_element(By.CSS_SELECTOR, '[data-testid="stImageCaption"]')
    assert caption.text == "Page 2 around the evidence, marked in yellow."
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", image)
    time.sleep(0.5)
    assert shoot(browser, "chat-page-image").stat().st_size > 10_000


def test_a_computed_figure_shows_its_rows_in_the_browser(served: str, browser: WebDriver) -> None:
    wait = sign_in(browser, served)
    box = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    )
    box.send_keys(FILING_RATIO_QUESTION)
    box.send_keys(Keys.ENTER)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[role="tab"]')))
    answer = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')[1]
    text = answer.text
    assert "operating cash flow ratio = 0.66" in text
    assert "Net cash provided by operating activities | 2015: 1,469,502" in text
    assert "computed by the appliance, not by a model" in text
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", answer)
    time.sleep(0.5)
    assert shoot(browser, "chat-figure").stat().st_size > 10_000


def test_every_page_opens_in_the_browser(served: str, browser: WebDriver) -> None:
    wait = sign_in(browser, served)
    for path, heading in PAGES:
        open_page(browser, wait, path)
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "h1"), heading))
        title = browser.find_element(By.CSS_SELECTOR, "h1")
        assert title.text.startswith(heading)
        time.sleep(1.5)  # let tables and charts draw
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        shoot(browser, f"page-{path}")
        if path == "quality":  # the failing cases and the to-fix list, below the figures
            failing = browser.find_element(By.XPATH, '//h3[starts-with(., "Failing cases")]')
            browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", failing)
            time.sleep(0.5)
            shoot(browser, "page-quality-cases")

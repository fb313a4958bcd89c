"""The whole appliance, driven end to end, for the air-gap test (tests/test_airgap.py).

Run inside a network namespace that has only loopback: starts the drop-folder
watcher and the app, waits for the dropped PDF, web page, Outlook message and its
attachment to be searchable, then drives headless Chromium through sign-in, a
question, and every page, recording every request the page made (Chromium's
performance log); then the HTTP API: a token, a search, a question, an OpenAI-style
chat and its docs page.  Writes what it saw as JSON.
Every Python process here carries the egress guard (sitecustomize.py beside this).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browsing import app_is_healthy, free_port, start_app, start_chromium

REPO = Path(__file__).resolve().parents[2]
PAGES = ["Documents", "History", "Insights", "Users", "Audit", "Settings"]
WAIT = 180


def wait_until(condition: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.5)


def ready_documents(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(sa.text("SELECT count(*) FROM documents WHERE status = 'ready'")) or 0
            )
    except sa.exc.DBAPIError:
        return 0  # not migrated yet
    finally:
        engine.dispose()


def external_references(html: str) -> list[str]:
    """src/href attributes of the served page that point off this machine."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    return [ref for ref in found if re.match(r"(?i)^(https?:)?//", ref)]


def browse(url: str, name: str, password: str, artifacts: Path) -> dict[str, Any]:
    driver = start_chromium(log_requests=True)
    seen: dict[str, Any] = {"pages": {}}
    try:
        wait = WebDriverWait(driver, WAIT)
        driver.get(url)
        name_box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[type="text"]')))
        name_box.send_keys(name)
        secret = driver.find_element(By.CSS_SELECTOR, 'input[type="password"]')
        secret.send_keys(password)
        secret.send_keys(Keys.ENTER)
        box = wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
        )
        box.send_keys("What is the notice period for termination?")
        box.send_keys(Keys.ENTER)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '[role="tab"]')))
        messages = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')
        seen["answer"] = messages[-1].text
        for page in PAGES:
            # Through the navigation: a new URL would be a new session (signed out).
            link = wait.until(
                ec.element_to_be_clickable(
                    (
                        By.CSS_SELECTOR,
                        f'a[data-testid="stSidebarNavLink"][href$="/{page.lower()}"]',
                    )
                )
            )
            link.click()
            title = wait.until(
                ec.text_to_be_present_in_element((By.CSS_SELECTOR, "h1"), page.split()[0])
            ) and driver.find_element(By.CSS_SELECTOR, "h1")
            time.sleep(1.5)
            seen["pages"][page] = {
                "title": title.text,
                "exception": bool(
                    driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
                ),
            }
        driver.save_screenshot(str(artifacts / "airgap-last-page.png"))
        requests = []
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                requests.append(message["params"]["request"]["url"])
        seen["requests"] = requests
    except Exception:
        driver.save_screenshot(str(artifacts / "airgap-failed.png"))
        links = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]')
        print("navigation links:", [link.get_attribute("outerHTML")[:300] for link in links])
        raise
    finally:
        driver.quit()
    return seen


def call(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def use_api(env: dict[str, str], user: str, logs: Path) -> dict[str, Any]:
    """The HTTP API as a program on the site would use it: a token from the command
    line, a search, a question, an OpenAI-style chat, and the docs page in Chromium."""
    made = subprocess.run(
        [sys.executable, "-m", "rag_core", "users", "token", "create", user, "--name", "airgap"],
        cwd=logs,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT,
    )
    token = made.stdout.split("\n  ")[1].split()[0]
    port = free_port()
    api_log = (logs / "api.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_core.api", "--port", str(port)],
        cwd=logs,
        env=env,
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url + "/healthz"), "the API did not start", 90)
        question = "What is the notice period for termination?"
        seen: dict[str, Any] = {
            "search": call(url + "/api/search", token, {"query": question}),
            "ask": call(url + "/api/ask", token, {"question": question}),
            "chat": call(
                url + "/v1/chat/completions",
                token,
                {"model": "local-documents", "messages": [{"role": "user", "content": question}]},
            ),
        }
        driver = start_chromium(log_requests=True)
        try:
            driver.get(url + "/docs")
            WebDriverWait(driver, WAIT).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock"))
            )
            seen["docs_requests"] = [
                message["params"]["request"]["url"]
                for entry in driver.get_log("performance")
                if (message := json.loads(entry["message"])["message"]).get("method")
                == "Network.requestWillBeSent"
            ]
        finally:
            driver.quit()
        return seen
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-env", default="AIRGAP_PASSWORD")
    parser.add_argument("--artifacts", type=Path, required=True)
    args = parser.parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    logs = args.out.parent
    database_url = env["DATABASE_URL"]
    started: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {}

    def start(module: str, cwd: Path, log_name: str) -> None:
        output = (logs / log_name).open("w")
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=cwd,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        )

    try:
        start("ingest_watch", logs, "watcher.log")
        # The generation service, started beside the others as `make run` starts it.
        start("rag_core.answers.service", REPO, "generation.log")
        wait_until(
            lambda: ready_documents(database_url) >= 4,
            "the dropped PDF, page, message and its attachment were not all ingested",
        )
        port = free_port()
        app_log = (logs / "streamlit.log").open("w")
        # cwd: the project's .streamlit/config.toml, as `make run` uses
        started.append(start_app(REPO / "app.py", port, cwd=REPO, env=env, log=app_log))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: app_is_healthy(url), "the app did not start", 90)
        with urllib.request.urlopen(url, timeout=10) as response:
            result["html_external"] = external_references(response.read().decode())
        result.update(browse(url, args.user, env[args.password_env], args.artifacts))
        result["api"] = use_api(env, args.user, logs)
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The frontline page in headless Chromium (Selenium and chromedriver,
installed by deploy/install-deps.sh), against a real recoveryd: an agent
signs in with their own token and records a case from complaint to
follow-up, sees what is left of today's allowance before giving, and is told
in plain words when a compensation does not fit. Run by
Tests/RecoveryServerTests/FrontlinePageEndToEndTests.swift, which then checks
the case with CASE over the line protocol."""
import os

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

PAGE = os.environ["FRONTLINE_PAGE_URL"]
SERVER = os.environ["RECOVERYD_HTTP_URL"]
TOKEN = os.environ["FRONTLINE_TOKEN"]
CASE = os.environ.get("FRONTLINE_CASE", "K-web-1")
SECOND = CASE + "-other"
SCREENSHOT = os.environ.get("FRONTLINE_SCREENSHOT")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=820,1180",
                     "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for_text(browser, selector, text, timeout=15):
    WebDriverWait(browser, timeout).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))
    return browser.find_element(By.CSS_SELECTOR, selector).text


def fill(browser, form, values):
    for name, value in values.items():
        field = browser.find_element(By.CSS_SELECTOR, f"{form} [name={name}]")
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(str(value))


def submit(browser, form):
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()


def test_an_agent_records_a_case_on_the_page(browser):
    browser.get(f"{PAGE}?server={SERVER}")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "signin-button").click()
    left = wait_for_text(browser, "#allowance-left", "left")
    assert "2,000.00 USD left" in left, left
    assert "A-1" in browser.find_element(By.ID, "who").text

    # A second case first, so the lists have something open and due.
    fill(browser, "#complaint-form", {"case_id": SECOND, "customer_id": "C-web-2", "category": "billing", "severity": 2})
    submit(browser, "#complaint-form")
    wait_for_text(browser, "#message", f"case {SECOND} is open")
    wait_for_text(browser, "#open-cases", SECOND)
    wait_for_text(browser, "#due-cases", SECOND)
    for form in ("#apology-form", "#compensation-form", "#follow-up-form"):
        browser.execute_script(f"document.querySelector('{form} [name=case_id]').value = ''")

    fill(browser, "#complaint-form", {"case_id": CASE, "customer_id": "C-web-1", "category": "late delivery", "severity": 3,
                                      "baseline": 6, "summary": "The parcel came a week late."})
    submit(browser, "#complaint-form")
    wait_for_text(browser, "#message", f"case {CASE} is open")

    # The case id follows into the next forms.
    assert browser.find_element(By.CSS_SELECTOR, "#apology-form [name=case_id]").get_attribute("value") == CASE
    fill(browser, "#apology-form", {"note": "Apologised on the phone."})
    submit(browser, "#apology-form")
    wait_for_text(browser, "#message", f"Apology recorded on {CASE}")

    # Before giving: what is left, and whether it fits.
    fill(browser, "#compensation-form", {"case_id": CASE, "amount": "12.50"})
    assert "Fits: 1,987.50 USD will be left today" in wait_for_text(browser, "#compensation-check", "Fits")
    submit(browser, "#compensation-form")
    wait_for_text(browser, "#message", f"12.50 USD given on {CASE}; 1,987.50 USD left today")
    wait_for_text(browser, "#allowance-left", "1,987.50 USD left")

    # Too much: said before sending, and refused in plain words after.
    fill(browser, "#compensation-form", {"case_id": CASE, "amount": "5000"})
    check = wait_for_text(browser, "#compensation-check", "more than you have left")
    assert "3,012.50 USD more than you have left today (1,987.50 USD)" in check, check
    submit(browser, "#compensation-form")
    refusal = wait_for_text(browser, "#message", "more than you can give today")
    assert "you have 1,987.50 USD left" in refusal and "supervisor" in refusal, refusal
    assert "error" in browser.find_element(By.ID, "message").get_attribute("class")

    fill(browser, "#follow-up-form", {"case_id": CASE, "satisfaction": 9, "would_recommend": 10})
    submit(browser, "#follow-up-form")
    wait_for_text(browser, "#message", f"Follow-up recorded on {CASE}: the case is closed")
    listed = lambda case: browser.find_elements(By.CSS_SELECTOR, f'#open-cases li[data-case-id="{case}"]')
    WebDriverWait(browser, 10).until(lambda _: not listed(CASE))
    assert listed(SECOND)

    if SCREENSHOT:
        browser.execute_script("window.scrollTo(0, 0)")
        fill(browser, "#compensation-form", {"case_id": SECOND, "amount": "40"})
        wait_for_text(browser, "#compensation-check", "Fits")
        browser.set_window_size(820, 1180)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(820, min(height + 120, 2400))
        browser.save_screenshot(SCREENSHOT)


def test_a_token_not_bound_to_a_person_is_turned_away(browser):
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{PAGE}?server={SERVER}")
    browser.find_element(By.ID, "token").send_keys(os.environ["UNBOUND_TOKEN"])
    browser.find_element(By.ID, "signin-button").click()
    assert "not bound to one person" in wait_for_text(browser, "#signin-message", "bound")

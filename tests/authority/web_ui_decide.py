#!/usr/bin/python3
"""Decides one request on jit-authority's page in headless Chromium, as an
operator would: sign in with the token, find the request's card, type the
comment, press Approve or Deny, read the notice. Used by
web_ui_with_helperd.sh (a request made on a host with `jitctl request`).

  web_ui_decide.py URL TOKEN_FILE REQUEST_ID approve|deny COMMENT
Exit 0 when the page says it is done; 1 with what the page showed otherwise.
"""
import shutil
import sys
import tempfile

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from web_ui_browser import WAIT, chromium


def main(url, token_file, rid, decision, comment):
    with open(token_file, encoding="utf-8") as f:
        token = f.read().strip()
    profile = tempfile.mkdtemp(prefix="jit-chromium-")
    drv = chromium(profile)
    try:
        wait = WebDriverWait(drv, WAIT, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
        drv.get(url + "/ui/login")
        field = drv.find_element(By.ID, "token")
        field.send_keys(token + Keys.ENTER)
        card = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"article#req-{rid}"))
        print(card.text.replace("\n", " | "))
        drv.find_element(By.ID, f"comment-{rid}").send_keys(comment)
        card.find_element(By.CSS_SELECTOR, "button." + decision).click()
        done = ("Approved " if decision == "approve" else "Denied ") + rid
        wait.until(lambda d: done in d.find_element(By.TAG_NAME, "main").text)
        print(done)
        return 0
    except TimeoutException:
        print(f"not done within {WAIT} s; the page shows:\n{drv.find_element(By.TAG_NAME, 'body').text}",
              file=sys.stderr)
        return 1
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))

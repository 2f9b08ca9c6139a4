"""The cluster's dashboard at `/`, in a real browser: Debian's chromium, headless, driven by
Selenium (scripts/setup-browser.sh installs chromium and chromium-driver; nothing downloads a
browser of its own), against 3 real instances. The page is opened on s2 while the process
runs on s1: stop it with its button and see its state change without a reload, kill it from
outside and see it, kill an instance and see its card turn SILENT. Screenshots go under
target/dashboard/ and are checked to be more than a blank page."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import harness
import test_statistics
from cluster_harness import Cluster
from conftest import require_impl
from harness import wait_until

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "target" / "dashboard"

PROGRAMS = """
[program:hello]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false

[program:twin]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false
"""

# `twin` is a managed application, so the application view can start and stop it.
RULES = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<root>
  <application name="twin">
    <starting_strategy>LESS_LOADED</starting_strategy>
    <programs>
      <program name="twin">
        <start_sequence>1</start_sequence>
      </program>
    </programs>
  </application>
</root>
"""


@pytest.fixture
def browser():
    try:
        driver = harness.headless_chromium()
    except harness.HarnessError as e:
        pytest.fail(str(e))
    yield driver
    driver.quit()


@pytest.fixture
def cluster(tmp_path):
    require_impl("raftvisord")
    rules = tmp_path / "rules.xml"
    rules.write_text(RULES)
    c = Cluster(tmp_path / "c", ["s1", "s2", "s3"], PROGRAMS, loglevel="info",
                overrides={i: {"rules_files": str(rules)} for i in ("s1", "s2", "s3")})
    yield c
    c.stop_checked()


def shot(driver, name: str) -> Path:
    """A screenshot under target/dashboard/, checked to hold more than a blank page (a blank
    1280x900 PNG compresses to a few KB)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    path.write_bytes(driver.get_screenshot_as_png())
    assert path.stat().st_size > 20_000, f"{path} looks blank ({path.stat().st_size} bytes)"
    return path


def text(driver, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    try:
        return driver.find_element(By.CSS_SELECTOR, css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_the_cluster_page_follows_actions_crashes_and_losses_without_reload(cluster, browser):
    from selenium.webdriver.common.by import By
    cluster.start()
    cluster.wait_operation(timeout=30)
    cluster.wait_all_running(timeout=30)
    s1 = cluster["s1"].proxy()
    assert s1.supervisor.startProcess("hello") is True

    browser.get(f"http://127.0.0.1:{cluster['s2'].http_port}/")
    row = '#processes tr[data-namespec="hello"]'
    wait_until(lambda: text(browser, f"{row} td.state") == "RUNNING"
               and text(browser, f"{row} td.instances") == "s1", 20, interval=0.1,
               what="hello RUNNING on s1 on the page")
    for ident in ("s1", "s2", "s3"):
        wait_until(lambda ident=ident: "RUNNING" in text(browser, f'.card[data-identifier="{ident}"]'),
                   20, interval=0.1, what=f"{ident}'s card RUNNING")
    assert text(browser, "#state") == "OPERATION"
    wait_until(lambda: text(browser, "#master") in {"s1", "s2", "s3"}, 10, interval=0.1,
               what="the master named")
    wait_until(lambda: text(browser, "#live") == "live", 10, interval=0.1, what="the live stream")
    # The daemon's own log, followed: what it logged at start is there.
    wait_until(lambda: "raftvisord started" in text(browser, "#mainlog"), 10, interval=0.1,
               what="the daemon's log on the page")
    shot(browser, "cluster")
    browser.execute_script("window.__notReloaded = true")

    # Its stop button: the state changes on the page, the answer shows on the row.
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="stop"]').click()
    wait_until(lambda: text(browser, f"{row} td.state") == "STOPPED", 20, interval=0.1,
               what="hello STOPPED after its button")
    wait_until(lambda: text(browser, f"{row} td.result") == "true", 10, interval=0.1,
               what="the stop's answer on the row")
    assert s1.supervisor.getProcessInfo("hello")["statename"] == "STOPPED"
    # The history shows the command and who asked (the page's instance), live.
    wait_until(lambda: "stop_process hello" in text(browser, "#history"), 10, interval=0.1,
               what="the stop in the history")

    # Started again with its button, then killed from outside: EXITED on the page.
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="start"]').click()
    wait_until(lambda: text(browser, f"{row} td.state") == "RUNNING", 20, interval=0.1,
               what="hello RUNNING after its button")
    pid = cluster["s1"].proxy().supervisor.getProcessInfo("hello")["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: text(browser, f"{row} td.state") == "EXITED", 20, interval=0.1,
               what="hello EXITED after a kill from outside")

    # s1's page, opened on s2: the process as s1 runs it (pid, uptime), live.
    browser.execute_script("location.hash = '#instance/s1'")
    inst_row = '#inst-processes tr[data-namespec="hello"]'
    wait_until(lambda: text(browser, f"{inst_row} td.state") == "EXITED", 10, interval=0.1,
               what="hello EXITED on s1's page")
    assert s1.supervisor.startProcess("hello") is True
    pid = s1.supervisor.getProcessInfo("hello")["pid"]
    wait_until(lambda: text(browser, f"{inst_row} td.pid") == str(pid), 10, interval=0.1,
               what="hello's pid on s1's page")
    assert text(browser, f"{inst_row} td.state") == "RUNNING"
    wait_until(lambda: text(browser, f"{inst_row} td.uptime").startswith("0:00:"), 5,
               interval=0.1, what="hello's uptime")
    assert "RUNNING" in text(browser, "#inst-state")
    shot(browser, "instance")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: text(browser, f"{inst_row} td.state") == "EXITED", 10, interval=0.1,
               what="hello EXITED again on s1's page")
    browser.execute_script("location.hash = ''")

    # A fault shows where it was clicked: stopping what does not run.
    browser.find_element(By.CSS_SELECTOR, f'{row} button[data-action="stop"]').click()
    wait_until(lambda: text(browser, f"{row} td.result").startswith("NOT_RUNNING"), 10,
               interval=0.1, what="the fault on the row")

    # An instance lost: its card turns SILENT.
    cluster["s3"].kill9()
    wait_until(lambda: "SILENT" in text(browser, '.card[data-identifier="s3"]'), 20,
               interval=0.1, what="s3's card SILENT")
    assert browser.execute_script("return window.__notReloaded === true"), "the page reloaded"
    shot(browser, "cluster-after")

    # The history, filtered as typed: only the loss of s3 is left.
    wait_until(lambda: "instance s3: SILENT" in text(browser, "#history"), 10, interval=0.1,
               what="the loss in the history")
    browser.find_element(By.ID, "history-filter").send_keys("s3 silent")
    shown = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
             if r.is_displayed()]
    assert len(shown) == 1 and "instance s3: SILENT" in shown[0], shown
    browser.execute_script("document.getElementById('history').scrollIntoView()")
    shot(browser, "history-filtered")

    # The application view: its rules, then the whole application started and stopped with
    # its buttons, its processes following, still without a reload.
    browser.execute_script("location.hash = '#application/twin'")
    wait_until(lambda: text(browser, '#app-rules dd[data-rule="starting_strategy"]')
               == "LESS_LOADED", 10, interval=0.1, what="twin's rules")
    assert not browser.find_element(By.ID, "cluster").is_displayed()
    assert browser.find_element(By.ID, "app-strategy").get_attribute("value") == "LESS_LOADED"
    browser.find_element(By.CSS_SELECTOR, '[data-app-action="start"]').click()
    twin = '#app-processes tr[data-namespec="twin"]'
    wait_until(lambda: text(browser, f"{twin} td.state") == "RUNNING"
               and text(browser, "#app-state") == "RUNNING", 20, interval=0.1,
               what=f"twin started from its page ({text(browser, '#application')!r})")
    assert text(browser, f"{twin} td.instances") in {"s1", "s2"}
    assert text(browser, "#app-result") == "true"
    shot(browser, "application")
    browser.find_element(By.CSS_SELECTOR, '[data-app-action="stop"]').click()
    wait_until(lambda: text(browser, f"{twin} td.state") == "STOPPED"
               and text(browser, "#app-state") == "STOPPED", 20, interval=0.1,
               what="twin stopped from its page")
    # Its process alone, with the row's own buttons (placed by the rules, the strategy chosen).
    browser.find_element(By.CSS_SELECTOR, f'{twin} button[data-action="start"]').click()
    wait_until(lambda: text(browser, f"{twin} td.state") == "RUNNING", 20, interval=0.1,
               what="twin started from its row")
    wait_until(lambda: text(browser, f"{twin} td.result") == "true", 10, interval=0.1,
               what="the start's answer on twin's row")
    browser.find_element(By.CSS_SELECTOR, f'{twin} button[data-action="stop"]').click()
    wait_until(lambda: text(browser, f"{twin} td.state") == "STOPPED", 20, interval=0.1,
               what="twin stopped from its row")
    browser.execute_script("location.hash = ''")
    wait_until(lambda: browser.find_element(By.ID, "cluster").is_displayed(), 10,
               interval=0.1, what="back to the cluster")
    assert browser.execute_script("return window.__notReloaded === true"), "the page reloaded"


BUSY = test_statistics.PROGRAMS + """
[program:talker]
command = /bin/sh -c "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.2; done"
autostart = false
startsecs = 0
autorestart = false
"""


@pytest.fixture
def busy_cluster(tmp_path):
    require_impl("raftvisord")
    stats = {"stats_collecting_period": 1, "stats_periods": 2}
    c = Cluster(tmp_path / "b", ["s1", "s2", "s3"], BUSY, loglevel="info",
                overrides={i: stats for i in ("s1", "s2", "s3")})
    yield c
    c.stop_checked()


def test_an_instance_page_shows_its_processes_and_host_statistics_live(busy_cluster, browser):
    """s1's page on s2: the busy process's CPU (Solaris mode: one core of the host's) and
    memory, and s1's host charts, drawn from the statistics and kept live by the events."""
    from selenium.webdriver.common.by import By
    c = busy_cluster
    c.start()
    c.wait_operation(timeout=30)
    assert c["s1"].proxy().supervisor.startProcess("busy") is True
    cores = wait_until(lambda: c["s2"].sv().get_statistics_status()["nb_cores"].get("s1"), 20,
                       what="s1's cores known on s2")
    browser.get(f"http://127.0.0.1:{c['s2'].http_port}/#instance/s1")
    row = '#inst-processes tr[data-namespec="busy"]'

    def cpu() -> float | None:
        shown = text(browser, f"{row} td.cpu")
        return float(shown.split()[0]) if shown else None

    wait_until(lambda: (cpu() or 0) > 0, 20, interval=0.1, what="busy's CPU on s1's page")
    # One core spinning, shown in Solaris mode (the machine's other work may take a share).
    assert 40.0 / cores <= cpu() <= 130.0 / cores, (cpu(), cores)
    assert text(browser, f"{row} td.mem").endswith("%")
    # The host charts: one line per series, points added as figures come.
    def points() -> int:
        line = browser.find_element(By.CSS_SELECTOR, "#chart-cpu polyline.main")
        return len(line.get_attribute("points").split())
    wait_until(lambda: points() >= 2, 20, interval=0.2, what="two CPU figures on the chart")
    before = points()
    wait_until(lambda: points() > before, 20, interval=0.2, what="the CPU chart following")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-cpu polyline")) == cores + 1
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-net polyline")
    assert text(browser, "#host-summary").startswith("CPU ")
    assert "%" in text(browser, "#host-usage tbody")
    shot(browser, "instance-statistics")


def test_any_instance_s_processes_are_driven_and_followed_from_its_page(busy_cluster, browser):
    """s1's page on s2: start a process with its button, follow its output as it is written,
    clear its log, stop it; then a conflict (the process started on s1 and s3 behind the
    cluster's back) shows on the cluster page and its "keep" button settles it. The cluster's
    restart and shutdown buttons ask first: dismissed, nothing happens."""
    from selenium.webdriver.common.by import By
    c = busy_cluster
    c.start()
    c.wait_operation(timeout=30)
    browser.get(f"http://127.0.0.1:{c['s2'].http_port}/#instance/s1")
    row = '#inst-processes tr[data-namespec="talker"]'
    wait_until(lambda: text(browser, f"{row} td.state") == "STOPPED", 20, interval=0.1,
               what="talker STOPPED on s1's page")
    browser.execute_script("window.__notReloaded = true")

    def click(css: str) -> None:
        browser.find_element(By.CSS_SELECTOR, css).click()

    click(f'{row} button[data-action="start"]')
    wait_until(lambda: text(browser, f"{row} td.state") == "RUNNING", 20, interval=0.1,
               what="talker RUNNING after its button")
    s1 = c["s1"].proxy().supervisor
    assert s1.getProcessInfo("talker")["statename"] == "RUNNING"
    assert c["s2"].proxy().supervisor.getProcessInfo("talker")["statename"] == "STOPPED"

    # Its output, followed: the lines keep coming without a reload.
    click(f'{row} button[data-action="stdout"]')
    wait_until(lambda: "line 3" in text(browser, "#proc-log"), 20, interval=0.1,
               what="talker's output on the page")
    seen = text(browser, "#proc-log").count("line ")
    wait_until(lambda: text(browser, "#proc-log").count("line ") > seen + 3, 20, interval=0.1,
               what="talker's output followed")
    assert "talker (stdout) on s1" in text(browser, "#proc-log-name")
    # Each line once: what came since the last read, not the whole log again.
    import re
    lines = re.findall(r"^line \d+$", text(browser, "#proc-log"), re.M)
    assert len(lines) == len(set(lines)), lines
    shot(browser, "instance-log-tail")

    click(f'{row} button[data-action="clear log"]')
    wait_until(lambda: text(browser, f"{row} td.result") == "true", 10, interval=0.1,
               what="the clear's answer")
    assert len(s1.readProcessStdoutLog("talker", 0, 100000)) < 200, "the log was cleared"

    click(f'{row} button[data-action="stop"]')
    wait_until(lambda: text(browser, f"{row} td.state") == "STOPPED", 20, interval=0.1,
               what="talker STOPPED after its button")
    click("#proc-log-close")
    assert not browser.find_element(By.ID, "proc-log-panel").is_displayed()

    # A conflict, made behind the cluster's back: kept on s1 from the cluster page.
    browser.execute_script("location.hash = ''")
    assert s1.startProcess("talker") is True
    assert c["s3"].proxy().supervisor.startProcess("talker") is True
    conflict = '#conflicts tr[data-namespec="talker"]'
    wait_until(lambda: text(browser, f"{conflict} td.instances") == "s1, s3", 20, interval=0.1,
               what="the conflict on the cluster page")
    assert browser.find_element(By.ID, "conflicts-section").is_displayed()
    shot(browser, "conflict")
    click(f'{conflict} button[data-action="keep s1"]')
    wait_until(lambda: not browser.find_element(By.ID, "conflicts-section").is_displayed(), 20,
               interval=0.1, what="the conflict settled")
    assert s1.getProcessInfo("talker")["statename"] == "RUNNING"
    assert c["s3"].proxy().supervisor.getProcessInfo("talker")["statename"] == "STOPPED"
    wait_until(lambda: text(browser, "#state") == "OPERATION", 20, interval=0.1,
               what="OPERATION again")

    # The cluster's restart asks first; dismissed, nothing is sent.
    click("#cluster-restart")
    alert = browser.switch_to.alert
    assert "Restart the whole cluster" in alert.text
    alert.dismiss()
    assert text(browser, "#cluster-result") == ""
    assert c["s2"].sv().get_supvisors_state()["fsm_statename"] == "OPERATION"
    assert browser.execute_script("return window.__notReloaded === true"), "the page reloaded"

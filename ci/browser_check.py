"""Run a notebook in JupyterLab in headless Chromium: every cell must run without an error; keep a screenshot.

    python ci/browser_check.py                     # notebook 01 (make browser-check)
    python ci/browser_check.py --notebook notebooks/02_gaussian_2d.ipynb --timeout 1800

Needs Chromium (Debian: `apt-get install chromium`). JupyterLab starts from this Python on a free localhost
port with a random token and settings of its own, and opens a copy of the notebook in runs/browser-check/work/
(outputs cleared; relative paths resolved as from notebooks/; out_dir in runs/browser-check/work/), so the
committed notebook and figures stay as they are. "Run All Cells" is run through the Chrome DevTools Protocol;
the check waits until every code cell has an execution count and the kernel is idle (or a cell failed), saves
a full-page screenshot in runs/browser-check/ and exits 1 naming each cell whose output shows an error.
"""
import argparse
import ast
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from base64 import b64decode
from pathlib import Path

import nbformat
import papermill as pm
import websocket

from modeinterp.support.files import atomic
from modeinterp.support.parallel import free_port

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "browser-check"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "install it with `apt-get install chromium` (Debian/Ubuntu) or pass --chromium PATH"
WIDTH = 1400  # pixels; the screenshot's height is the notebook's
MAX_HEIGHT = 16000  # Chromium renders no taller page in one screenshot
SETTINGS = {  # JupyterLab user settings for the check: render every cell (for the screenshot), no news pop-up
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}

# JavaScript run in the page; PANEL stands for the notebook's panel (found by its path: a headless browser
# has no focus, so JupyterLab's current widget stays empty). STATE: each cell's first line, execution count
# and outputs (without images) from the model, and the stderr outputs the page actually renders.
PANEL = "Array.from(window.jupyterapp?.shell.widgets('main') ?? []).find(w => w.context?.path === PATH)"
STATE = """(() => {
  const panel = PANEL;
  const nodes = panel.content.widgets.map(w => w.node);
  return JSON.stringify({
    kernel: panel.sessionContext.session?.kernel?.status ?? null,
    cells: panel.content.model.sharedModel.cells.map((c, i) => ({
      index: i, type: c.cell_type, first_line: c.getSource().split("\\n")[0],
      execution_count: c.cell_type === "code" ? c.execution_count : null,
      outputs: c.cell_type === "code" ? c.toJSON().outputs.map(o => ({
        output_type: o.output_type, name: o.name, ename: o.ename, evalue: o.evalue,
        text: Array.isArray(o.text) ? o.text.join("") : o.text})) : [],
      rendered_stderr: Array.from(nodes[i].querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')).map(n => n.innerText),
    })),
  });
})()"""
READY = """(() => { const p = PANEL; return Boolean(p && p.content.model && p.context.isReady
  && p.sessionContext.session?.kernel?.status === "idle"); })()"""
RUN_ALL = """(() => { const p = PANEL; window.jupyterapp.shell.activateById(p.id);
  window.jupyterapp.commands.execute("notebook:run-all-cells").catch(e => console.error(e));
  return true; })()"""
# HEIGHT: the page height that shows every cell (the notebook scrolls inside its panel); scrolls to the top.
HEIGHT = """(() => { const p = PANEL;
  const outer = p.node.querySelector(".jp-WindowedPanel-outer"), box = outer.getBoundingClientRect();
  const inner = p.node.querySelector(".jp-WindowedPanel-inner");
  outer.scrollTop = 0;
  return box.top + inner.scrollHeight + (window.innerHeight - box.bottom);
})()"""


def in_page(script: str, path: str) -> str:
    """`script` with PANEL standing for the panel of the notebook at `path` (relative to the served root)."""
    return script.replace("PANEL", PANEL.replace("PATH", json.dumps(path)))


def positive(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0; got {text}")
    return value


def find_chromium(given: str | None) -> str:
    """The Chromium binary: `given` (a path or a name on PATH), else the first of CHROMIUM on PATH."""
    names = (given,) if given else CHROMIUM
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"--chromium: no Chromium binary found (looked for {', '.join(names)} on PATH): {INSTALL}")


def copy_parameters(notebook: Path, out_dir: Path) -> dict:
    """The notebook's relative path parameters made absolute (from its folder); out_dir set to `out_dir`."""
    found = {}
    for name, p in pm.inspect_notebook(str(notebook)).items():
        try:
            value = ast.literal_eval(p["default"])
        except (ValueError, SyntaxError):
            continue
        if name == "out_dir":
            found[name] = str(out_dir)
        elif isinstance(value, str) and value.startswith(".."):
            found[name] = str((notebook.parent / value).resolve())
    return found


def prepare_copy(notebook: Path, work: Path) -> Path:
    """Write a copy of `notebook` into `work`: outputs cleared, path parameters injected (as papermill)."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    parameters = copy_parameters(notebook, work / "figures" / notebook.stem)
    if parameters:
        nb.metadata.setdefault("papermill", {})  # where papermill records the parameters it injects
        nb = pm.parameterize.parameterize_notebook(nb, parameters)
    copy = work / notebook.name
    with atomic(copy, suffix=".tmp.ipynb") as tmp:
        nbformat.write(nb, tmp)
    return copy


def write_settings(folder: Path) -> None:
    """JupyterLab user settings (SETTINGS) in `folder`."""
    for name, values in SETTINGS.items():
        with atomic(folder / name) as tmp:
            tmp.write_text(json.dumps(values))


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None,
             log: Path | None = None):
    """Poll predicate() until it returns a true value (returned); exit naming `what` on a timeout, or when
    `process` has exited (with the end of its `log`)."""
    end, last_error = time.monotonic() + timeout, None
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            sys.exit(f"{what}: the process exited with code {process.returncode}\n{tail}")
        try:
            value = predicate()
        except (OSError, RuntimeError, websocket.WebSocketException, json.JSONDecodeError) as e:
            value, last_error = None, e
        if value:
            return value
        time.sleep(1)
    sys.exit(f"timed out after {timeout:.0f} s waiting for {what}"
             + (f"; last error: {last_error}" if last_error else ""))


def start_lab(root: Path, port: int, token: str, work: Path) -> subprocess.Popen:
    """JupyterLab (from this Python) serving `root` on localhost:port with `token`; settings under `work`."""
    write_settings(work / "lab-settings")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={work / 'lab-settings'}",
           f"--LabApp.workspaces_dir={work / 'workspaces'}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = work / "jupyterlab.log"
    lab = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    wait_for(lambda: urllib.request.urlopen(url, timeout=5).status == 200, 120, "JupyterLab to start",
             lab, log)
    return lab


def start_chromium(binary: str, profile: Path) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with a fresh profile; returns the process and its page's DevTools websocket URL."""
    cmd = [binary, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
           "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={WIDTH},1000",
           "about:blank"]
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    log = profile.parent / "chromium.log"
    browser = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    active = profile / "DevToolsActivePort"
    port = wait_for(lambda: active.exists() and active.read_text().split("\n")[0], 60, "Chromium to start",
                    browser, log)

    def page_url():
        """The websocket URL of Chromium's first page, once it lists one."""
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
        return next((t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"), None)

    return browser, wait_for(page_url, 60, "Chromium's page", browser, log)


class DevTools:
    """A minimal Chrome DevTools Protocol client: one page, one command at a time."""

    def __init__(self, url: str):
        """Connect to the page's websocket `url`."""
        self.ws = websocket.create_connection(url, timeout=120, suppress_origin=True)
        self.last_id = 0

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result (events arriving meanwhile are dropped)."""
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"JavaScript failed: {details.get('text')} in {expression[:80]}")
        return result["result"].get("value")

    def close(self) -> None:
        """Close the connection."""
        self.ws.close()


def errors(cells: list[dict]) -> list[str]:
    """One line per cell whose output shows an error: an error output, or a stderr output with a Traceback
    (in the notebook's model or as the page renders it)."""
    found = []
    for cell in cells:
        outputs = cell["outputs"]
        stderr = [o.get("text") or "" for o in outputs if o.get("name") == "stderr"] + cell["rendered_stderr"]
        shown = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o["output_type"] == "error"]
        shown += [text.strip().splitlines()[-1] for text in stderr if "Traceback" in text]
        if shown:
            found.append(f"cell {cell['index'] + 1} ({cell['first_line']!r}): {shown[0]}")
    return found


def finished(state: dict) -> bool:
    """Whether the run is over: the kernel idle and every code cell run or one failed, or the kernel dead."""
    if state["kernel"] != "idle":
        return state["kernel"] == "dead"
    code = [c for c in state["cells"] if c["type"] == "code"]
    return all(c["execution_count"] is not None for c in code) or bool(errors(code))


def not_run(state: dict) -> list[str]:
    """The code cells without an execution count, as 'cell i (first line)'."""
    return [f"cell {c['index'] + 1} ({c['first_line']!r})" for c in state["cells"]
            if c["type"] == "code" and c["execution_count"] is None]


def wait_for_cells(page: DevTools, path: str, timeout: float) -> dict:
    """The notebook's STATE once finished(); exit naming the cells not run yet after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not finished(state := json.loads(page.evaluate(in_page(STATE, path)))):
        if time.monotonic() > end:
            sys.exit(f"timed out after {timeout:.0f} s (--timeout); not run yet: {', '.join(not_run(state))}")
        time.sleep(2)
    return state


def screenshot(page: DevTools, path: str, png: Path) -> int:
    """Save the notebook at `path` as one PNG `png` (the page made as tall as the notebook); returns its
    height."""
    page.evaluate("window.jupyterapp.shell.collapseLeft(), true")
    for _ in range(2):  # the second pass measures the notebook as laid out at the first pass's height
        time.sleep(2)  # let JupyterLab lay the page out
        height = min(MAX_HEIGHT, int(page.evaluate(in_page(HEIGHT, path))))
        page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height, deviceScaleFactor=1,
                  mobile=False)
    time.sleep(2)
    page.evaluate(in_page(HEIGHT, path))  # scrolls the notebook to its top again
    data = page.call("Page.captureScreenshot", format="png")["data"]
    with atomic(png, suffix=".tmp.png") as tmp:
        tmp.write_bytes(b64decode(data))
    return height


def run_check(notebook: Path, chromium: str, timeout: float, out: Path) -> list[str]:
    """Run `notebook` in JupyterLab in Chromium, save the screenshot in `out`; returns the errors found."""
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    copy = prepare_copy(notebook, work)
    token, processes, page = secrets.token_hex(24), [], None
    try:
        port = free_port()
        processes.append(start_lab(ROOT, port, token, work))
        browser, ws_url = start_chromium(chromium, work / "chromium-profile")
        processes.append(browser)
        page = DevTools(ws_url)
        path = copy.relative_to(ROOT).as_posix()
        page.call("Page.navigate", url=f"http://127.0.0.1:{port}/lab/tree/{path}?token={token}")
        wait_for(lambda: page.evaluate(in_page(READY, path)), 180, "the notebook to open with an idle kernel")
        start = time.monotonic()
        page.evaluate(in_page(RUN_ALL, path))
        print(f"running {notebook.name} in JupyterLab in Chromium (a copy: {path})", flush=True)
        state = wait_for_cells(page, path, timeout)
        print(f"cells ran in {time.monotonic() - start:.0f} s", flush=True)
        png = out / f"{notebook.stem}.png"
        height = screenshot(page, path, png)
        clipped = f" (clipped: the notebook is taller than {MAX_HEIGHT})" if height == MAX_HEIGHT else ""
        print(f"screenshot: {png.relative_to(ROOT)} ({WIDTH}x{height}){clipped}")
        died = ["the kernel died"] if state["kernel"] == "dead" else []
        return died + (errors(state["cells"]) or [f"{c}: not run" for c in not_run(state)])
    finally:
        if page is not None:
            page.close()
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "01_gaussian_1d.ipynb")
    ap.add_argument("--chromium", help=f"the browser (default: the first of {', '.join(CHROMIUM)} on PATH)")
    ap.add_argument("--timeout", type=positive, default=900, help="seconds the cells may take (default 900)")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the screenshot and the copy (default "
                    f"{OUT.relative_to(ROOT)}); must lie inside the repository, which JupyterLab serves")
    args = ap.parse_args(argv)
    notebook, out = args.notebook.resolve(), args.out.resolve()
    if not notebook.is_file():
        ap.error(f"--notebook: {args.notebook} is not a file")
    if not out.is_relative_to(ROOT):
        ap.error(f"--out: {args.out} is not inside {ROOT}")
    chromium = find_chromium(args.chromium)
    started = time.monotonic()
    found = run_check(notebook, chromium, args.timeout, out)
    if found:
        sys.exit(f"{notebook.name} failed in the browser:\n" + "\n".join(found))
    print(f"{notebook.name}: every cell ran without an error in the browser "
          f"({time.monotonic() - started:.0f} s in all)")


if __name__ == "__main__":
    main()

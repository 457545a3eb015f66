"""Open pages in headless Chromium: the static book (default), or a notebook run in JupyterLab.

    python ci/browser_check.py                     # the book (make browser-check): build/book/, built if missing
    python ci/browser_check.py book --site DIR     # another built book
    python ci/browser_check.py lab                 # notebook 01 run in JupyterLab
    python ci/browser_check.py lab --notebook notebooks/02_gaussian_2d.ipynb --timeout 1800

Needs Chromium (Debian: `apt-get install chromium`).

book: serves the book (ci/book.py) on a free localhost port and opens every page in Chromium through the Chrome
DevTools Protocol. It exits 1, naming the page and the resource, for an image that did not load (naturalWidth 0),
a request the server answered 404, and a local link (href or src, in any page) whose file or #anchor is missing;
the links and anchors are read from the HTML files themselves. One screenshot per page goes to
runs/browser-check/book/ (pages taller than 16000 pixels are cut there).

lab: JupyterLab starts from this Python on a free localhost port with a random token and settings of its own,
and opens a copy of the notebook in runs/browser-check/work/ (outputs cleared; relative paths resolved as from
notebooks/; out_dir in runs/browser-check/work/), so the committed notebook and figures stay as they are. "Run
All Cells" is run through the Chrome DevTools Protocol; the check waits until every code cell has an execution
count and the kernel is idle (or a cell failed), saves a full-page screenshot in runs/browser-check/ and exits 1
naming each cell whose output shows an error.
"""
import argparse
import ast
import functools
import http.server
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from base64 import b64decode
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import nbformat
import papermill as pm
import websocket

from modeinterp.support.files import atomic
from modeinterp.support.parallel import free_port

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "browser-check"
BOOK = ROOT / "build" / "book"
ORIGIN = "http://book.invalid"  # stands for the served book when its HTML files are read without a server
IGNORED = {"/favicon.ico"}  # Chromium asks every site for one
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
    capture(page, png)
    return height


def capture(page: DevTools, png: Path) -> None:
    """Save what the page shows now as the PNG `png`."""
    data = page.call("Page.captureScreenshot", format="png")["data"]
    with atomic(png, suffix=".tmp.png") as tmp:
        tmp.write_bytes(b64decode(data))


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


class Refs(HTMLParser):
    """The ids (and anchor names) of one HTML page, and its references as (kind, url): 'image' for img src,
    'link' for a/link href and script/iframe src."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        """Record the tag's id or name, and what it refers to."""
        attrs = dict(attrs)
        self.ids.update(v for k, v in attrs.items() if k == "id" or (k == "name" and tag == "a"))
        if tag == "img" and attrs.get("src"):
            self.refs.append(("image", attrs["src"]))
        elif tag in ("a", "link") and attrs.get("href"):
            self.refs.append(("link", attrs["href"]))
        elif tag in ("script", "iframe") and attrs.get("src"):
            self.refs.append(("link", attrs["src"]))


@functools.cache
def parse(page: Path) -> Refs:
    """The parsed page (cached: every page's anchors are looked up from many pages)."""
    refs = Refs()
    refs.feed(page.read_text(errors="replace"))
    return refs


def served_file(site: Path, url_path: str) -> Path | None:
    """The file a static server on `site` answers for `url_path` (a folder: its index.html), or None."""
    path = (site / unquote(url_path).lstrip("/")).resolve()
    if path.is_dir():
        path = path / "index.html"
    return path if path.is_file() and path.is_relative_to(site.resolve()) else None


def reference_problem(site: Path, page: str, kind: str, ref: str) -> str | None:
    """What is wrong with `ref` (of `kind`) on `page` (relative to `site`), or None: a local file that does not
    exist, or an #anchor that its HTML page does not have. Other origins and data: URIs are not checked."""
    url = urlsplit(urljoin(f"{ORIGIN}/{page}", ref))
    if f"{url.scheme}://{url.netloc}" != ORIGIN or ref.startswith("javascript:"):
        return None
    target = served_file(site, url.path)
    if target is None:
        return f"{page}: {'missing image' if kind == 'image' else 'broken link'} {ref}"
    if url.fragment and target.suffix == ".html" and unquote(url.fragment) not in parse(target).ids:
        return f"{page}: broken link {ref} (no #{unquote(url.fragment)} in {target.relative_to(site)})"
    return None


def book_pages(site: Path) -> list[str]:
    """Every HTML page of the book, relative to `site`, the front page first."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return sorted(pages, key=lambda p: p != "index.html")


def site_problems(site: Path) -> list[str]:
    """Every missing local image, broken local link and missing #anchor in the book's HTML (no browser)."""
    parse.cache_clear()
    found = []
    for page in book_pages(site):
        for kind, ref in parse(site / page).refs:
            problem = reference_problem(site, page, kind, ref)
            if problem and problem not in found:
                found.append(problem)
    return found


class Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves the book quietly and records (path, status) of every request in the server's `requests`."""

    def log_request(self, code="-", size="-"):
        """Record the request instead of printing it."""
        self.server.requests.append((urlsplit(self.path).path, int(code)))

    def log_message(self, format, *args):
        """Print nothing."""


def serve(site: Path) -> http.server.ThreadingHTTPServer:
    """A static HTTP server for `site` on a free localhost port, running in a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recorder, directory=str(site)))
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# JavaScript run in each book page: the images that did not load, and the page's height.
IMAGES = """JSON.stringify({height: document.documentElement.scrollHeight,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute("src").slice(0, 120))})"""


def open_page(page: DevTools, url: str) -> dict:
    """Navigate to `url` and wait until it has loaded; returns IMAGES' answer."""
    page.call("Page.navigate", url=url)
    loaded = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
    wait_for(lambda: page.evaluate(loaded), 60, f"{url} to load")
    return json.loads(page.evaluate(IMAGES))


def check_page(page: DevTools, server, name: str, png: Path) -> list[str]:
    """Open the book page `name` in Chromium, save its screenshot as `png`; returns its problems: images that
    did not load and requests answered 404."""
    server.requests.clear()
    state = open_page(page, f"http://127.0.0.1:{server.server_port}/{name}")
    page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=min(MAX_HEIGHT, state["height"]),
              deviceScaleFactor=1, mobile=False)
    time.sleep(0.5)  # let the page lay out at its new height
    capture(page, png)
    page.call("Emulation.clearDeviceMetricsOverride")
    found = [f"{name}: image did not load: {src}" for src in state["broken"]]
    return found + [f"{name}: 404 for {path}" for path, code in server.requests if code == 404
                    and path not in IGNORED]


def screenshot_name(page: str) -> str:
    """The screenshot's file name for a book page: notebooks/01_x.html -> notebooks_01_x.png."""
    return page.removesuffix(".html").replace("/", "_") + ".png"


def run_book_check(site: Path, chromium: str, out: Path) -> list[str]:
    """Open every page of the book at `site` in Chromium; screenshots in `out`; returns every problem found."""
    found = site_problems(site)
    server, browser, page = serve(site), None, None
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        browser, ws_url = start_chromium(chromium, work / "chromium-profile")
        page = DevTools(ws_url)
        for name in book_pages(site):
            problems = check_page(page, server, name, out / screenshot_name(name))
            print(f"{name}: {'ok' if not problems else f'{len(problems)} problem(s)'}", flush=True)
            found += problems
    finally:
        if page is not None:
            page.close()
        if browser is not None:
            browser.terminate()
            browser.wait(30)
        server.shutdown()
    return found


def book_site(site: Path) -> Path:
    """The built book at `site`; the default one is built (ci/book.py) when missing."""
    if (site / "index.html").is_file():
        return site
    if site != BOOK:
        sys.exit(f"--site: no index.html in {site}: build it with `python ci/book.py --out {site}`")
    import book  # ci/book.py, beside this file
    return book.build()


def book_command(args) -> None:
    """The book check (see the module doc)."""
    chromium = find_chromium(args.chromium)
    site = book_site(args.site.resolve())
    out = args.out.resolve() / "book"
    found = run_book_check(site, chromium, out)
    print(f"screenshots: {out}")
    if found:
        sys.exit(f"the book at {site} has {len(found)} problem(s):\n" + "\n".join(found))
    print(f"{len(book_pages(site))} pages: every image loaded, every local link and anchor found")


def lab_command(args, ap: argparse.ArgumentParser) -> None:
    """The JupyterLab check (see the module doc)."""
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = ap.add_subparsers(dest="command", metavar="{book,lab}", help="book (the default) or lab")
    book_ap = commands.add_parser("book", help="every page of the static book (ci/book.py)")
    book_ap.add_argument("--site", type=Path, default=BOOK, help=f"the built book (default "
                         f"{BOOK.relative_to(ROOT)}, built if missing)")
    lab = commands.add_parser("lab", help="a notebook run in JupyterLab")
    lab.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "01_gaussian_1d.ipynb")
    lab.add_argument("--timeout", type=positive, default=900, help="seconds the cells may take (default 900)")
    for sub in (book_ap, lab):
        sub.add_argument("--chromium", help=f"the browser (default: the first of {', '.join(CHROMIUM)} on PATH)")
        sub.add_argument("--out", type=Path, default=OUT, help=f"folder for the screenshots (default "
                         f"{OUT.relative_to(ROOT)}); lab: must lie inside the repository, which JupyterLab serves")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv or ["book"])  # no arguments: the book check
    if args.command == "lab":
        lab_command(args, lab)
    else:
        book_command(args)


if __name__ == "__main__":
    main()
